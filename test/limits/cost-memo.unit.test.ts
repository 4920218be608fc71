import 'reflect-metadata';
import { parse, type GraphQLSchema } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildGatewaySchema } from '../../src/app/schema.js';
import { CostMemo, costVariables } from '../../src/limits/cost-memo.js';
import { isCostArgument } from '../../src/limits/query-cost.js';

// Costs are remembered per document and per values of the variables that can change them. What a remembered
// cost is reused for is checked here piece by piece; the prices themselves in query-cost.unit.test.ts, and,
// remembered or not, against the cost model over HTTP (test/limits/limits.test.ts, test/hostile/cost.test.ts).

let schema: GraphQLSchema;

beforeAll(async () => {
  schema = await buildGatewaySchema();
});

describe('the variables a cost depends on', () => {
  it('are those of page sizes, series arguments and directives, through fragments, and not a dashboard range or a cursor', () => {
    const document = parse(`
      query Mixed($from: Date, $to: Date, $limit: Int, $first: Int, $after: String, $seriesFrom: Date, $unit: Granularity,
                  $period: ComparisonPeriod, $skipSeries: Boolean!, $days: Int, $search: String) {
        dashboard(from: $from, to: $to) { topProducts(limit: $limit) { revenue } ...Trend }
        customers(first: $first, after: $after, search: $search) { totalCount }
        revenue(from: $seriesFrom, granularity: $unit) @skip(if: $skipSeries) { comparison(period: $period) { totalRevenue } }
      }
      fragment Trend on Dashboard { recentTrend(days: $days) { date } }`);
    expect(costVariables(schema, document, isCostArgument)).toEqual([
      'days',
      'first',
      'limit',
      'period',
      'seriesFrom',
      'skipSeries',
      'unit',
    ]);
  });

  it('are none for a dashboard whose sizes are written in the document', () => {
    const document = parse(`query Range($from: Date!, $to: Date!) {
      dashboard(from: $from, to: $to) { totalRevenue topProducts(limit: 5) { revenue } recentTrend(days: 30) { date } }
    }`);
    expect(costVariables(schema, document, isCostArgument)).toEqual([]);
  });
});

describe('the cost memo', () => {
  const document = () =>
    parse('query Top($from: Date, $limit: Int) { dashboard(from: $from) { topProducts(limit: $limit) { revenue } } }');

  it('keeps nothing for a document seen once, then one cost per value of the variables that change it', () => {
    const memo = new CostMemo(schema, isCostArgument);
    const top = document();
    expect(memo.slot(top, undefined, { from: '2024-01-01', limit: 5 })).toBeUndefined();
    const first = memo.slot(top, undefined, { from: '2024-01-01', limit: 5 })!;
    expect(first.cost(undefined, true)).toBeUndefined();
    first.keep(7);
    expect(memo.slot(top, undefined, { from: '2025-03-01', limit: 5 })!.cost(undefined, true)).toBe(7);
    expect(memo.slot(top, undefined, { from: '2024-01-01', limit: 6 })!.cost(undefined, true)).toBeUndefined();
    expect(memo.slot(top, 'Top', { from: '2024-01-01', limit: 5 })!.cost(undefined, true)).toBeUndefined();
    // Another parse of the same text is another document: Apollo hands the same object for the same text.
    expect(memo.slot(document(), undefined, { from: '2024-01-01', limit: 5 })).toBeUndefined();
  });

  it('reuses a cost worked out with the data bounds only while the same bounds are known', () => {
    const memo = new CostMemo(schema, isCostArgument);
    const top = document();
    memo.slot(top, undefined, {});
    const bounds = { firstDay: '2024-01-01', lastDay: '2024-12-31' };
    memo.slot(top, undefined, {})!.keep(400, { value: bounds });
    const slot = memo.slot(top, undefined, {})!;
    expect(slot.cost({ ...bounds }, true)).toBe(400);
    expect(slot.cost({ ...bounds, lastDay: '2025-01-01' }, true)).toBeUndefined();
    // Bounds not known now (the data changed, or they are old): read them again rather than trust the old cost.
    expect(slot.cost(undefined, true)).toBeUndefined();
  });

  it('reuses a cost priced without any bounds to be had when there are still none', () => {
    const memo = new CostMemo(schema, isCostArgument);
    const top = document();
    memo.slot(top, undefined, {});
    memo.slot(top, undefined, {})!.keep(3_660, { value: undefined });
    expect(memo.slot(top, undefined, {})!.cost(undefined, false)).toBe(3_660);
  });
});
