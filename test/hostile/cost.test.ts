import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import {
  Received,
  connect,
  insertTransaction,
  seedCatalogue,
  sleep,
  startLiveGateway,
  type LiveGateway,
} from '../subscriptions/subscription-fixtures.js';

// Revenue series are the largest lists of the schema (up to 3,660 points): their cost follows their bucket
// count, so that aliasing many long series cannot buy megabytes of answer and seconds of CPU for a few points.
// Every figure expected here is computed from the base tables or the calendar with plain SQL.

const POINT = 'date totalRevenue transactionCount avgTransactionValue uniqueCustomers';
const POINT_FIELDS = 5;
const DEFAULT_MAX_COST = 5_000;

let database: TestDatabase;
let gateway: LiveGateway;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  await seedCatalogue(database.handle);
  for (const date of ['2024-01-01T09:00:00Z', '2024-06-15T12:00:00Z', '2024-12-31T18:00:00Z', '2025-02-03T10:00:00Z']) {
    await insertTransaction(database.handle, { amount: '50.00', date });
  }
  gateway = await startLiveGateway(database.handle);
});

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

afterAll(async () => {
  await gateway?.close();
  await database?.drop();
});

/** Calendar days from `from` to `to`, inclusive, as PostgreSQL counts them. */
async function daysBetween(from: string, to: string): Promise<number> {
  const { rows } = await sql<{ days: number }>`SELECT (${to}::date - ${from}::date + 1)::int AS days`.execute(
    database.handle.db,
  );
  return rows[0]!.days;
}

/** Days from the first to the last day that has a transaction (report zone UTC), from the base table. */
async function daysOfData(): Promise<number> {
  const { rows } = await sql<{ days: number }>`
    SELECT (max((transaction_date AT TIME ZONE 'UTC')::date) - min((transaction_date AT TIME ZONE 'UTC')::date) + 1)::int AS days
    FROM transactions`.execute(database.handle.db);
  return rows[0]!.days;
}

async function monthsOfData(): Promise<number> {
  const { rows } = await sql<{ months: number }>`
    SELECT count(*)::int AS months
    FROM generate_series(date_trunc('month', (SELECT min(transaction_date AT TIME ZONE 'UTC') FROM transactions)),
                         (SELECT max(transaction_date AT TIME ZONE 'UTC') FROM transactions), interval '1 month')`.execute(
    database.handle.db,
  );
  return rows[0]!.months;
}

/** What a series costs: the field, what is selected beside `points`, and `points` at 1 plus its fields per bucket. */
const seriesCost = (buckets: number, besidePoints: number, pointFields: number) =>
  1 + besidePoints + 1 + buckets * pointFields;

type CostExtensions = { code?: string; cost?: number; maxCost?: number };

describe('the cost of revenue series', () => {
  it('refuses 14 aliased ten-year daily series with QUERY_TOO_COMPLEX, at the cost of all their points', async () => {
    const series = Array.from(
      { length: 14 },
      (_, i) => `s${i + 1}: revenue(from: "2015-01-01", to: "2024-12-31") { points { ${POINT} } }`,
    );
    const answer = await gateway.post({ query: `query Amplified { ${series.join('\n')} }` });
    const days = await daysBetween('2015-01-01', '2024-12-31');
    expect(days).toBe(3_653);

    // A refused document: 200 under application/json, as GraphQL over HTTP asks.
    expect(answer.status).toBe(200);
    expect(answer.body.data).toBeUndefined();
    const extensions = answer.body.errors![0]!.extensions as CostExtensions;
    expect(extensions.code).toBe('QUERY_TOO_COMPLEX');
    expect(extensions.cost).toBe(14 * seriesCost(days, 0, POINT_FIELDS));
    expect(extensions.maxCost).toBe(DEFAULT_MAX_COST);

    // One such series alone is past the default limit too; by week, ten years fit.
    const one = await gateway.post({
      query: `{ revenue(from: "2015-01-01", to: "2024-12-31") { points { ${POINT} } } }`,
    });
    expect((one.body.errors![0]!.extensions as CostExtensions).cost).toBe(seriesCost(days, 0, POINT_FIELDS));
    const weekly = await gateway.post<{ revenue: { points: unknown[] } }>({
      query: `{ revenue(from: "2015-01-01", to: "2024-12-31", granularity: WEEK) { points { ${POINT} } } }`,
    });
    expect(weekly.status).toBe(200);
    const weeks = weekly.body.data!.revenue.points.length;
    expect(weekly.body.extensions?.cost).toEqual({
      requested: seriesCost(weeks, 0, POINT_FIELDS),
      maximum: DEFAULT_MAX_COST,
    });
  });

  it('lets a year of daily points with every field, and the totals, through the default limit', async () => {
    const answer = await gateway.post<{ revenue: { points: unknown[] } }>({
      query: `{ revenue(from: "2024-01-01", to: "2024-12-31") { totalRevenue totalTransactions avgDailyRevenue points { ${POINT} } } }`,
    });
    const days = await daysBetween('2024-01-01', '2024-12-31');
    expect(answer.status).toBe(200);
    expect(answer.body.data!.revenue.points).toHaveLength(days);
    const cost = seriesCost(days, 3, POINT_FIELDS);
    expect(cost).toBeLessThan(DEFAULT_MAX_COST);
    expect(answer.body.extensions?.cost).toEqual({ requested: cost, maximum: DEFAULT_MAX_COST });
    expect(answer.headers['x-query-cost']).toBe(String(cost));
  });

  it('prices the same points the same through fragments and aliases', async () => {
    const query = `query Fragments {
      revenue(from: "2024-01-01", to: "2024-01-31") { ...Series other: points { date } }
    }
    fragment Series on RevenueSeries { points { ...Point } }
    fragment Point on RevenuePoint { ${POINT} }`;
    const answer = await gateway.post({ query });
    const days = await daysBetween('2024-01-01', '2024-01-31');
    expect(answer.status).toBe(200);
    // Two selections of `points`: one with every field, one with the date.
    expect(answer.body.extensions?.cost).toEqual({
      requested: 1 + (1 + days * POINT_FIELDS) + (1 + days * 1),
      maximum: DEFAULT_MAX_COST,
    });
  });

  it('prices a series with an open end by the days the data spans, and again once the data grows', async () => {
    const allTime = { query: '{ revenue { points { date totalRevenue } } }' };
    const first = await gateway.post(allTime);
    expect(first.status).toBe(200);
    expect(first.body.extensions?.cost).toEqual({
      requested: seriesCost(await daysOfData(), 0, 2),
      maximum: DEFAULT_MAX_COST,
    });
    const monthly = await gateway.post({
      query: '{ revenue(from: "2024-03-01", granularity: MONTH) { points { date } } }',
    });
    const { rows } = await sql<{ months: number }>`
      SELECT count(*)::int AS months FROM generate_series('2024-03-01'::date,
        (SELECT max(transaction_date AT TIME ZONE 'UTC') FROM transactions), interval '1 month')`.execute(
      database.handle.db,
    );
    expect(monthly.body.extensions?.cost).toEqual({
      requested: seriesCost(rows[0]!.months, 0, 1),
      maximum: DEFAULT_MAX_COST,
    });

    // A transaction 200 days after the last one: the all-time series is 200 points longer, and costs so.
    await insertTransaction(database.handle, { amount: '5.00', date: '2025-08-22T10:00:00Z' });
    const expected = seriesCost(await daysOfData(), 0, 2);
    let cost: number | undefined;
    const started = performance.now();
    // The gateway hears the write on the change feed a moment after the commit.
    do {
      cost = ((await gateway.post(allTime)).body.extensions?.cost as { requested: number }).requested;
      if (cost !== expected) await sleep(20);
    } while (cost !== expected && performance.now() - started < 5_000);
    expect(cost).toBe(expected);
    const allMonths = await gateway.post({ query: '{ revenue(granularity: MONTH) { points { date } } }' });
    expect(allMonths.body.extensions?.cost).toEqual({
      requested: seriesCost(await monthsOfData(), 0, 1),
      maximum: DEFAULT_MAX_COST,
    });
  });

  it('refuses a document whose fragments are too many to price, rather than running it unpriced', async () => {
    // Twelve fragments, each spreading the next twice: 4,096 selections of `name` under each of 100 customers, a
    // cost of about 410,000 that graphql-query-complexity gives up counting (past 10,000 nodes).
    const fragments = ['fragment F12 on Customer { name }'];
    for (let level = 11; level >= 0; level--)
      fragments.push(`fragment F${level} on Customer { ...F${level + 1} ...F${level + 1} }`);
    const answer = await gateway.post({
      query: `{ customers(first: 100) { edges { node { ...F0 } } } } ${fragments.join(' ')}`,
    });
    expect(answer.status).toBe(200);
    expect(answer.body.data).toBeUndefined();
    expect(answer.body.errors![0]!.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', maxCost: DEFAULT_MAX_COST });
  });

  it('prices a comparison by the buckets of the range it compares with: a quarter has a 92-day quarter before it', async () => {
    type Series = { points: unknown[]; comparison: Series | null };
    const cases = [
      { args: 'from: "2024-01-01", to: "2024-03-31"', buckets: [91, 92] },
      { args: 'from: "2024-03-01", to: "2024-03-31"', buckets: [31, 29] },
      { args: 'from: "2025-03-01", to: "2025-03-31", granularity: WEEK', buckets: [6, 5] },
      { args: 'from: "2025-01-01", to: "2025-03-31", granularity: WEEK', buckets: [14, 14] },
      { args: 'from: "2024-03-05", to: "2024-03-14"', buckets: [10, 10] },
    ];
    for (const { args, buckets } of cases) {
      const answer = await gateway.post<{ revenue: Series }>({
        query: `{ revenue(${args}) { points { date totalRevenue } comparison { points { date totalRevenue } } } }`,
      });
      expect(answer.status, args).toBe(200);
      const { revenue } = answer.body.data!;
      expect([revenue.points.length, revenue.comparison!.points.length], args).toEqual(buckets);
      // The series with its points, and the comparison (1) with its own points, each bucket at two fields.
      const [current, previous] = buckets as [number, number];
      expect(answer.body.extensions?.cost, args).toEqual({
        requested: 1 + (1 + current * 2) + 1 + (1 + previous * 2),
        maximum: DEFAULT_MAX_COST,
      });
    }
  });

  it('prices comparisons of comparisons, and a year earlier, by their own buckets', async () => {
    type Series = { points: unknown[]; comparison?: Series | null; lastYear?: Series | null };
    const answer = await gateway.post<{ revenue: Series }>({
      query: `{ revenue(from: "2024-03-01", to: "2024-03-31") {
        points { date }
        comparison { points { date } comparison { points { date totalRevenue } } }
        lastYear: comparison(period: PREVIOUS_YEAR) { points { date uniqueCustomers } }
      } }`,
    });
    expect(answer.status).toBe(200);
    const { revenue } = answer.body.data!;
    const march = revenue.points.length;
    const february = revenue.comparison!.points.length;
    const january = revenue.comparison!.comparison!.points.length;
    const march2023 = revenue.lastYear!.points.length;
    expect([march, february, january, march2023]).toEqual([31, 29, 31, 31]);
    expect(answer.body.extensions?.cost).toEqual({
      requested: 1 + (1 + march) + 1 + (1 + february) + 1 + (1 + january * 2) + 1 + (1 + march2023 * 2),
      maximum: DEFAULT_MAX_COST,
    });
  });

  it('prices the comparison of a series with an open end (always null) as one bucket', async () => {
    const answer = await gateway.post<{ revenue: { comparison: null } }>({
      query: '{ revenue(granularity: MONTH) { points { date } comparison { points { date totalRevenue } } } }',
    });
    expect(answer.body.data!.revenue.comparison).toBeNull();
    expect(answer.body.extensions?.cost).toEqual({
      requested: seriesCost(await monthsOfData(), 0, 1) + 1 + (1 + 2),
      maximum: DEFAULT_MAX_COST,
    });
  });

  it('refuses ten years of weekly points with their comparison, though the ten years alone fit', async () => {
    const tenYears = `revenue(from: "2015-01-01", to: "2024-12-31", granularity: WEEK) { points { ${POINT} } }`;
    const alone = await gateway.post<{ revenue: { points: unknown[] } }>({ query: `{ ${tenYears} }` });
    expect(alone.status).toBe(200);
    const weeks = alone.body.data!.revenue.points.length;
    const withComparison = await gateway.post({
      query: `{ revenue(from: "2015-01-01", to: "2024-12-31", granularity: WEEK) { points { ${POINT} } comparison { points { ${POINT} } } } }`,
    });
    // Refused before it runs (200 under application/json, as GraphQL over HTTP asks of a refused document).
    expect(withComparison.status).toBe(200);
    expect(withComparison.body.data).toBeUndefined();
    // 2005-01-01 to 2014-12-31 has as many weeks, give or take the week a range starts or ends in.
    const previousWeeks = (await daysBetween('2005-01-01', '2014-12-31')) / 7;
    const cost = (withComparison.body.errors![0]!.extensions as CostExtensions).cost!;
    expect(cost - seriesCost(weeks, 0, POINT_FIELDS) - 2).toBeGreaterThanOrEqual(
      Math.floor(previousWeeks) * POINT_FIELDS,
    );
    expect(cost - seriesCost(weeks, 0, POINT_FIELDS) - 2).toBeLessThanOrEqual(
      (Math.ceil(previousWeeks) + 1) * POINT_FIELDS,
    );
    expect(withComparison.body.errors![0]!.extensions).toMatchObject({
      code: 'QUERY_TOO_COMPLEX',
      maxCost: DEFAULT_MAX_COST,
    });
  });

  it('prices the dashboard compared with as the dashboard itself, plus the comparison and its changes', async () => {
    const fields =
      'totalRevenue avgOrderValue topProducts(limit: 10) { revenue product { name } } recentTrend(days: 90) { date totalRevenue }';
    const alone = await gateway.post({ query: `{ dashboard(from: "2024-06-01", to: "2024-06-30") { ${fields} } }` });
    const compared = await gateway.post({
      query: `{ dashboard(from: "2024-06-01", to: "2024-06-30") {
        ${fields}
        comparison(period: PREVIOUS_YEAR) { totalRevenue { current previous difference percent } previous { ${fields} } }
      } }`,
    });
    expect(alone.status).toBe(200);
    expect(compared.status).toBe(200);
    const aloneCost = (alone.body.extensions!.cost as { requested: number }).requested;
    // 1 + 10 × 3 + 90 × 2 (and the two totals, and the dashboard): what a trend and a top ten cost.
    expect(aloneCost).toBe(1 + 1 + 1 + (1 + 10 * (1 + 2)) + (1 + 90 * 2));
    // The comparison (1), the change (1 + 4 fields), and `previous`, which selects what the dashboard does.
    expect(compared.body.extensions?.cost).toEqual({
      requested: aloneCost + 1 + (1 + 4) + aloneCost,
      maximum: DEFAULT_MAX_COST,
    });
  });

  it('holds subscriptions to the same prices', async () => {
    const client = connect(gateway.url);
    cleanups.push(() => void client.dispose());
    const tenYears = new Received(
      client,
      `subscription { revenueUpdated(from: "2015-01-01", to: "2024-12-31") { points { ${POINT} } } }`,
    );
    await tenYears.ended();
    expect(tenYears.errors?.[0]?.extensions).toMatchObject({
      code: 'QUERY_TOO_COMPLEX',
      cost: seriesCost(await daysBetween('2015-01-01', '2024-12-31'), 0, POINT_FIELDS),
    });
    const oneYear = new Received<{ revenueUpdated: { points: unknown[] } }>(
      client,
      `subscription { revenueUpdated(from: "2024-01-01", to: "2024-12-31") { points { ${POINT} } } }`,
    );
    await oneYear.waitForResults(1);
    expect(oneYear.last!.revenueUpdated.points).toHaveLength(await daysBetween('2024-01-01', '2024-12-31'));
    // Two years with their comparison, the two years before: 731 and 730 days of five fields, past the limit.
    const compared = new Received(
      client,
      `subscription { revenueUpdated(from: "2023-01-01", to: "2024-12-31") { points { ${POINT} } comparison { points { ${POINT} } } } }`,
    );
    await compared.ended();
    expect(compared.errors?.[0]?.extensions).toMatchObject({
      code: 'QUERY_TOO_COMPLEX',
      cost:
        1 +
        (1 + (await daysBetween('2023-01-01', '2024-12-31')) * POINT_FIELDS) +
        1 +
        (1 + (await daysBetween('2021-01-01', '2022-12-31')) * POINT_FIELDS),
    });
  });
});
