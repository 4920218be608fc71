import 'reflect-metadata';
import fc from 'fast-check';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { createCostCheck } from '../../src/limits/query-cost.js';
import { loadConfig } from '../../src/config/config.js';
import { queryLimitsFrom } from '../../src/limits/limits-config.js';
import { MAX_SERIES_POINTS } from '../../src/modules/revenue/revenue.buckets.js';
import { buildGatewaySchema } from '../../src/app/schema.js';

// The cost model on its own, without a gateway: every field costs 1, a list costs its page size (first/last,
// limit, days, or their default) times what is selected under it, and a revenue series costs its buckets times
// the fields of a point. The same figures over HTTP: test/limits/limits.test.ts, test/hostile/cost.test.ts.

/** The limits a gateway enforces by default (the configuration's defaults). */
const defaultQueryLimits = queryLimitsFrom(loadConfig({}).limits.query);
const check = createCostCheck(await buildGatewaySchema(), defaultQueryLimits);
const costOf = (query: string, variables: Record<string, unknown> = {}, operationName?: string) =>
  check.costOf(parse(query), variables, operationName);

/** A series: the field, `points` at 1, and each bucket at the fields selected in a point. */
const seriesCost = (buckets: number, pointFields: number) => 1 + 1 + buckets * pointFields;

describe('the cost of a document', () => {
  it('is 1 per field for scalars and single objects', async () => {
    expect(await costOf('{ dashboard { totalRevenue } }')).toBe(2);
    expect(await costOf('{ dashboard { totalRevenue totalTransactions avgOrderValue } }')).toBe(4);
  });

  it('multiplies a connection by first or last, and by 20 when neither is given', async () => {
    expect(await costOf('{ products(first: 10) { edges { node { name } } } }')).toBe(1 + 10 * 3);
    expect(await costOf('{ customers(last: 7) { edges { node { name city } } } }')).toBe(1 + 7 * 4);
    expect(await costOf('{ products { edges { node { name } } } }')).toBe(1 + 20 * 3);
    expect(await costOf('{ customers(first: 0) { totalCount } }')).toBe(1);
  });

  it('multiplies a list by its limit or days argument, and by the schema default when it is left out', async () => {
    expect(await costOf('{ dashboard { topProducts(limit: 12) { revenue } } }')).toBe(1 + 1 + 12);
    expect(await costOf('{ dashboard { topProducts { revenue unitsSold } } }')).toBe(1 + 1 + 5 * 2);
    expect(await costOf('{ dashboard { recentTrend { date } } }')).toBe(1 + 1 + 30);
    expect(await costOf('{ dashboard { recentTrend(days: 366) { date } } }')).toBe(1 + 1 + 366);
  });

  it('multiplies nested lists', async () => {
    // products: 1 + 10 × (edges 1 + node 1 + topCustomers (1 + 4 × name 1)).
    expect(await costOf('{ products(first: 10) { edges { node { topCustomers(limit: 4) { name } } } } }')).toBe(
      1 + 10 * (1 + 1 + 1 + 4),
    );
  });

  it('reads page sizes from the variables', async () => {
    const query = 'query Page($n: Int) { products(first: $n) { edges { node { name } } } }';
    expect(await costOf(query, { n: 50 })).toBe(1 + 50 * 3);
    expect(await costOf(query, {})).toBe(1 + 20 * 3);
  });

  it('counts every alias as the field it names', async () => {
    const one = await costOf('{ dashboard { topProducts(limit: 3) { revenue } } }');
    const three = await costOf(
      '{ a: dashboard { topProducts(limit: 3) { revenue } } b: dashboard { topProducts(limit: 3) { revenue } } c: dashboard { topProducts(limit: 3) { revenue } } }',
    );
    expect(three).toBe(3 * one!);
  });

  it('prices what a fragment selects as if it were written in place', async () => {
    const inline = await costOf(
      '{ customers(first: 5) { edges { node { name lifetimeValue favoriteProduct { name } } } } }',
    );
    const spread = await costOf(`{ customers(first: 5) { edges { node { ...Row } } } }
      fragment Row on Customer { name lifetimeValue favoriteProduct { ...Name } }
      fragment Name on Product { name }`);
    expect(spread).toBe(inline);
    expect(inline).toBe(1 + 5 * (1 + 1 + 1 + 1 + (1 + 1)));
  });

  it('prices the operation asked for, not the others of the document', async () => {
    const document = `query Small { dashboard { totalRevenue } } query Large { products(first: 100) { edges { node { name } } } }`;
    expect(await costOf(document, {}, 'Small')).toBe(2);
    expect(await costOf(document, {}, 'Large')).toBe(1 + 100 * 3);
    expect(await costOf(document, {}, 'Missing')).toBeUndefined();
  });

  it('is undefined for variables that do not fit their types, which execution refuses with BAD_USER_INPUT', async () => {
    expect(await costOf('query Page($n: Int) { products(first: $n) { totalCount } }', { n: 'many' })).toBeUndefined();
  });

  it('grows with the page size exactly as the model says, for any page size (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 1, max: 4 }), async (first, copies) => {
        const field = (i: number) => `p${i}: products(first: ${first}) { edges { node { name sku } } }`;
        const query = `{ ${Array.from({ length: copies }, (_, i) => field(i)).join(' ')} }`;
        expect(await costOf(query)).toBe(copies * (1 + first * 4));
      }),
      { numRuns: 25 },
    );
  });
});

describe('the cost of a revenue series', () => {
  it('is its buckets times the fields of a point: days, Monday weeks or months of the range', async () => {
    const january = (granularity: string) =>
      `{ revenue(from: "2025-01-01", to: "2025-01-31", granularity: ${granularity}) { points { date totalRevenue } } }`;
    expect(await costOf(january('DAY'))).toBe(seriesCost(31, 2));
    // 2025-01-01 is a Wednesday: the weeks of 30 December, 6, 13, 20 and 27 January.
    expect(await costOf(january('WEEK'))).toBe(seriesCost(5, 2));
    expect(await costOf(january('MONTH'))).toBe(seriesCost(1, 2));
    expect(await costOf('{ revenue(from: "2024-01-01", to: "2024-12-31") { points { date } } }')).toBe(
      seriesCost(366, 1),
    );
  });

  it('adds what is selected beside the points once, not per bucket', async () => {
    const query = '{ revenue(from: "2025-02-01", to: "2025-02-28") { totalRevenue avgDailyRevenue points { date } } }';
    expect(await costOf(query)).toBe(seriesCost(28, 1) + 2);
  });

  it('is the same through aliases and fragments', async () => {
    const plain = await costOf('{ revenue(from: "2025-03-01", to: "2025-03-31") { points { date totalRevenue } } }');
    const viaFragments = await costOf(`{ r: revenue(from: "2025-03-01", to: "2025-03-31") { ...Series } }
      fragment Series on RevenueSeries { points { ...Point } }
      fragment Point on RevenuePoint { date totalRevenue }`);
    expect(viaFragments).toBe(plain);
  });

  it('prices a comparison by the buckets of the range it compares with', async () => {
    // April to June 2025 (91 days) is whole months: it compares with January to March (90 days).
    const query =
      '{ revenue(from: "2025-04-01", to: "2025-06-30") { points { date } comparison { points { date } } } }';
    expect(await costOf(query)).toBe(1 + (1 + 91) + (1 + 1 + 90));
  });

  it('prices an open end at the longest series there can be when the data bounds cannot be read', async () => {
    expect(await costOf('{ revenue(from: "2025-01-01") { points { date } } }')).toBe(seriesCost(MAX_SERIES_POINTS, 1));
  });

  it('takes the bucket count from the variables', async () => {
    const query =
      'query Series($from: Date, $to: Date, $unit: Granularity) { revenue(from: $from, to: $to, granularity: $unit) { points { date } } }';
    expect(await costOf(query, { from: '2025-01-01', to: '2025-12-31', unit: 'MONTH' })).toBe(seriesCost(12, 1));
    expect(await costOf(query, { from: '2025-01-01', to: '2025-12-31', unit: 'DAY' })).toBe(seriesCost(365, 1));
  });
});

describe('the cost limit', () => {
  it('refuses a cost over the maximum with QUERY_TOO_COMPLEX, naming both', () => {
    expect(check.overLimit(defaultQueryLimits.maxCost)).toBeUndefined();
    const error = check.overLimit(defaultQueryLimits.maxCost + 1);
    expect(error?.extensions).toMatchObject({
      code: 'QUERY_TOO_COMPLEX',
      cost: defaultQueryLimits.maxCost + 1,
      maxCost: defaultQueryLimits.maxCost,
    });
  });

  it('refuses ten years of daily points with all five fields', async () => {
    const cost = await costOf(
      '{ revenue(from: "2015-01-01", to: "2024-12-31") { points { date totalRevenue transactionCount avgTransactionValue uniqueCustomers } } }',
    );
    expect(cost).toBe(seriesCost(3_653, 5));
    expect(check.overLimit(cost!)?.extensions.code).toBe('QUERY_TOO_COMPLEX');
  });
});
