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
  const { rows } = await sql<{ days: number }>`SELECT (${to}::date - ${from}::date + 1)::int AS days`.execute(database.handle.db);
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
                         (SELECT max(transaction_date AT TIME ZONE 'UTC') FROM transactions), interval '1 month')`.execute(database.handle.db);
  return rows[0]!.months;
}

/** What a series costs: the field, what is selected beside `points`, and `points` at 1 plus its fields per bucket. */
const seriesCost = (buckets: number, besidePoints: number, pointFields: number) => 1 + besidePoints + 1 + buckets * pointFields;

type CostExtensions = { code?: string; cost?: number; maxCost?: number };

describe('the cost of revenue series', () => {
  it('refuses 14 aliased ten-year daily series with QUERY_TOO_COMPLEX, at the cost of all their points', async () => {
    const series = Array.from({ length: 14 }, (_, i) => `s${i + 1}: revenue(from: "2015-01-01", to: "2024-12-31") { points { ${POINT} } }`);
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
    const one = await gateway.post({ query: `{ revenue(from: "2015-01-01", to: "2024-12-31") { points { ${POINT} } } }` });
    expect((one.body.errors![0]!.extensions as CostExtensions).cost).toBe(seriesCost(days, 0, POINT_FIELDS));
    const weekly = await gateway.post<{ revenue: { points: unknown[] } }>({
      query: `{ revenue(from: "2015-01-01", to: "2024-12-31", granularity: WEEK) { points { ${POINT} } } }`,
    });
    expect(weekly.status).toBe(200);
    const weeks = weekly.body.data!.revenue.points.length;
    expect(weekly.body.extensions?.cost).toEqual({ requested: seriesCost(weeks, 0, POINT_FIELDS), maximum: DEFAULT_MAX_COST });
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
    expect(answer.body.extensions?.cost).toEqual({ requested: 1 + (1 + days * POINT_FIELDS) + (1 + days * 1), maximum: DEFAULT_MAX_COST });
  });

  it('prices a series with an open end by the days the data spans, and again once the data grows', async () => {
    const allTime = { query: '{ revenue { points { date totalRevenue } } }' };
    const first = await gateway.post(allTime);
    expect(first.status).toBe(200);
    expect(first.body.extensions?.cost).toEqual({ requested: seriesCost(await daysOfData(), 0, 2), maximum: DEFAULT_MAX_COST });
    const monthly = await gateway.post({ query: '{ revenue(from: "2024-03-01", granularity: MONTH) { points { date } } }' });
    const { rows } = await sql<{ months: number }>`
      SELECT count(*)::int AS months FROM generate_series('2024-03-01'::date,
        (SELECT max(transaction_date AT TIME ZONE 'UTC') FROM transactions), interval '1 month')`.execute(database.handle.db);
    expect(monthly.body.extensions?.cost).toEqual({ requested: seriesCost(rows[0]!.months, 0, 1), maximum: DEFAULT_MAX_COST });

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
    expect(allMonths.body.extensions?.cost).toEqual({ requested: seriesCost(await monthsOfData(), 0, 1), maximum: DEFAULT_MAX_COST });
  });

  it('refuses a document whose fragments are too many to price, rather than running it unpriced', async () => {
    // Twelve fragments, each spreading the next twice: 4,096 selections of `name` under each of 100 customers, a
    // cost of about 410,000 that graphql-query-complexity gives up counting (past 10,000 nodes).
    const fragments = ['fragment F12 on Customer { name }'];
    for (let level = 11; level >= 0; level--) fragments.push(`fragment F${level} on Customer { ...F${level + 1} ...F${level + 1} }`);
    const answer = await gateway.post({ query: `{ customers(first: 100) { edges { node { ...F0 } } } } ${fragments.join(' ')}` });
    expect(answer.status).toBe(200);
    expect(answer.body.data).toBeUndefined();
    expect(answer.body.errors![0]!.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', maxCost: DEFAULT_MAX_COST });
  });

  it('holds subscriptions to the same prices', async () => {
    const client = connect(gateway.url);
    cleanups.push(() => void client.dispose());
    const tenYears = new Received(client, `subscription { revenueUpdated(from: "2015-01-01", to: "2024-12-31") { points { ${POINT} } } }`);
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
  });
});
