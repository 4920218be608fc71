import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR } from '../../src/db/migrator.js';
import { readTransactionCsv } from '../../src/ingest/csv-source.js';
import { ingestTransactions } from '../../src/ingest/ingest-transactions.js';
import { resolveSeedOptions, SeedOptionsError } from '../../src/seed/seed-options.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { connect, Received, startLiveGateway, type LiveGateway } from '../subscriptions/subscription-fixtures.js';

// Values that reach PostgreSQL but that the API cannot show. Transaction dates are kept to what every report can
// show (1900-01-01 to 9000-01-01 UTC) by the feed and by PostgreSQL itself; a value that still cannot be shown
// (stored before that rule) fails its own field with INTERNAL_SERVER_ERROR and is logged, never shown raw.

const HEADER = 'id,customer_id,product_id,quantity,amount,status,transaction_date';
const YEAR_10000 = '9999-12-31T23:59:59-15:00';
const YEAR_1 = '0001-01-01T00:00:00+02:00';

const DEFAULT_DASHBOARD = `{ dashboard {
  totalRevenue totalTransactions completedTransactions avgOrderValue
  topProducts { product { sku } revenue unitsSold }
  recentTrend(days: 3) { date totalRevenue transactionCount }
} }`;
const ALL_TIME_SERIES = '{ revenue { from to totalRevenue points { date totalRevenue } } }';

async function seedShop(database: TestDatabase) {
  await sql`INSERT INTO customers (id, name, created_at) VALUES (1, 'לקוחה', now()), (2, 'לקוח', now())`.execute(
    database.handle.db,
  );
  await sql`INSERT INTO products (id, sku, name, category, unit_price) VALUES (1, 'LAP-1', 'מחשב נייד', 'מחשבים', 10)`.execute(
    database.handle.db,
  );
  await sql`INSERT INTO transactions VALUES (1, 1, 1, 1, 25.00, 'completed', '2025-03-10T12:00:00Z')`.execute(
    database.handle.db,
  );
}

/** The SQLSTATE PostgreSQL answers an INSERT of one transaction dated `date` with; undefined when it takes it. */
async function insertDated(database: TestDatabase, id: number, date: string): Promise<string | undefined> {
  try {
    await sql`INSERT INTO transactions VALUES (${id}, 1, 1, 1, 1.00, 'completed', ${date}::timestamptz)`.execute(
      database.handle.db,
    );
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

describe('transaction dates outside what reports can show', () => {
  let database: TestDatabase;
  let gateway: TestGateway;
  let live: LiveGateway;

  beforeAll(async () => {
    database = await createTestDatabase();
    await seedShop(database);
    gateway = await startTestGateway(database.handle);
    live = await startLiveGateway(database.handle);
  });

  afterAll(async () => {
    await live?.close();
    await gateway?.close();
    await database?.drop();
  });

  it('are refused by PostgreSQL itself, whoever writes them', async () => {
    for (const date of [
      YEAR_10000,
      YEAR_1,
      '1899-12-31T23:59:59.999999Z',
      '1900-01-01T01:59:59+02:00',
      '9000-01-01T00:00:00Z',
      'infinity',
      '-infinity',
    ]) {
      expect(await insertDated(database, 900, date), date).toBe('23514');
    }
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM transactions WHERE id = 900`.execute(
      database.handle.db,
    );
    expect(rows[0]!.n).toBe(0);
    // An update cannot move a stored transaction out of the range either.
    await expect(
      sql`UPDATE transactions SET transaction_date = ${YEAR_10000}::timestamptz WHERE id = 1`.execute(
        database.handle.db,
      ),
    ).rejects.toMatchObject({
      code: '23514',
    });
  });

  it('end at the bounds themselves: 1900-01-01T00:00:00Z is taken, and so is the last microsecond before 9000', async () => {
    expect(await insertDated(database, 901, '1900-01-01T00:00:00Z')).toBeUndefined();
    expect(await insertDated(database, 902, '8999-12-31T23:59:59.999999Z')).toBeUndefined();
    await sql`DELETE FROM transactions WHERE id IN (901, 902)`.execute(database.handle.db);
  });

  it('are refused by the feed with their line and the range, and the dashboard, the all-time series and the subscriptions stay whole', async () => {
    const feed = [
      HEADER,
      `2,1,1,1,10.00,completed,${YEAR_10000}`,
      `3,1,1,1,10.00,completed,${YEAR_1}`,
      '4,2,1,2,40.00,completed,2025-03-11T09:00:00+02:00',
      // Re-sending transaction 1 under another date changes nothing but its status, amount and quantity.
      `1,1,1,1,25.00,completed,${YEAR_10000}`,
    ].join('\n');
    const summary = await ingestTransactions(database.handle.db, readTransactionCsv(Readable.from([feed])));
    expect(summary.rejected.map((row) => row.line)).toEqual([2, 3, 5]);
    for (const row of summary.rejected) {
      expect(row.reason).toMatch(
        /^transaction_date must be from 1900-01-01T00:00:00Z \(included\) to 9000-01-01T00:00:00Z \(excluded\) in UTC/,
      );
    }
    expect(summary.inserted).toBe(1);

    const dashboard = await gateway.post<{ dashboard: { totalRevenue: string; recentTrend: { date: string }[] } }>({
      query: DEFAULT_DASHBOARD,
    });
    expect(dashboard.body.errors).toBeUndefined();
    expect(dashboard.body.data?.dashboard.totalRevenue).toBe('65.00');
    expect(dashboard.body.data?.dashboard.recentTrend.map((point) => point.date)).toEqual([
      '2025-03-09',
      '2025-03-10',
      '2025-03-11',
    ]);

    const series = await gateway.post<{ revenue: { from: string; to: string; points: unknown[] } }>({
      query: ALL_TIME_SERIES,
    });
    expect(series.body.errors).toBeUndefined();
    expect(series.body.data?.revenue).toMatchObject({ from: '2025-03-10', to: '2025-03-11' });
    expect(series.body.data?.revenue.points).toHaveLength(2);

    const client = connect(live.url);
    try {
      const totals = new Received<{ dashboardUpdated: { totalRevenue: string } }>(
        client,
        'subscription { dashboardUpdated { totalRevenue } }',
      );
      const revenue = new Received<{ revenueUpdated: { to: string } }>(
        client,
        'subscription { revenueUpdated { to totalRevenue } }',
      );
      expect((await totals.waitForResults(1))[0]).toEqual({ data: { dashboardUpdated: { totalRevenue: '65.00' } } });
      expect((await revenue.waitForResults(1))[0]).toEqual({
        data: { revenueUpdated: { to: '2025-03-11', totalRevenue: '65.00' } },
      });
      totals.dispose();
      revenue.dispose();
    } finally {
      await client.dispose();
    }
  });
});

describe('the demo data', () => {
  it('keep every transaction date within what reports can show', () => {
    const problems = (options: { until: string; days: number }) => {
      try {
        resolveSeedOptions({ transactions: 10, ...options });
        return [];
      } catch (error) {
        if (error instanceof SeedOptionsError) return error.problems;
        throw error;
      }
    };
    expect(problems({ until: '9000-01-01', days: 1 })).toEqual([
      expect.stringMatching(/^until must be a date YYYY-MM-DD from 1900-01-01 to 8999-12-31/),
    ]);
    expect(problems({ until: '1900-01-05', days: 10 })).toEqual([
      expect.stringMatching(/^days: 10 days ending at 1900-01-05 begin before 1900-01-01/),
    ]);
    expect(problems({ until: '8999-12-31', days: 1 })).toEqual([]);
    expect(problems({ until: '1900-01-10', days: 10 })).toEqual([]);
  });
});

// A database that took such dates before PostgreSQL refused them: the rule is lifted again in this file's own
// database.
describe('a database that already holds dates reports cannot show', () => {
  let database: TestDatabase;
  let gateway: TestGateway;
  let live: LiveGateway;
  const logged: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    await seedShop(database);
    await sql`ALTER TABLE transactions DROP CONSTRAINT transactions_date_in_range`.execute(database.handle.db);
    await sql`INSERT INTO transactions VALUES (2, 2, 1, 1, 10.00, 'completed', ${YEAR_10000}::timestamptz)`.execute(
      database.handle.db,
    );
    const logger = pino({ level: 'error' }, { write: (line: string) => void logged.push(line) });
    gateway = await startTestGateway(database.handle, {}, {}, { logger });
    live = await startLiveGateway(database.handle);
  });

  afterAll(async () => {
    await live?.close();
    await gateway?.close();
    await database?.drop();
  });

  it('is not migrated: the migration names the transactions and what to do, and changes nothing', async () => {
    // The migration's own file, in a transaction as the migrator runs it.
    const script = await readFile(path.join(MIGRATIONS_DIR, '007_transaction_date_range.sql'), 'utf8');
    await expect(
      database.handle.db.transaction().execute((trx) => database.handle.runScript(trx, script)),
    ).rejects.toThrow(
      /^1 transaction\(s\) have a transaction_date outside 1900-01-01T00:00:00Z\.\.9000-01-01T00:00:00Z, which reports cannot show; the first by id: 2 \(10000-01-01 14:59:59\+00\)/,
    );
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM pg_constraint WHERE conname = 'transactions_date_in_range'`.execute(
      database.handle.db,
    );
    expect(rows[0]!.n).toBe(0);
  });

  it('answers a DateTime it cannot show with a masked INTERNAL_SERVER_ERROR on that field alone, and logs the value', async () => {
    logged.length = 0;
    const answer = await gateway.post<{
      customers: { edges: { node: { name: string; lastPurchaseAt: string | null } }[] };
    }>({
      query: '{ customers(orderBy: { field: NAME, direction: ASC }) { edges { node { name lastPurchaseAt } } } }',
    });
    expect(answer.body.data?.customers.edges.map((edge) => edge.node)).toEqual([
      { name: 'לקוח', lastPurchaseAt: null },
      { name: 'לקוחה', lastPurchaseAt: '2025-03-10T12:00:00.000Z' },
    ]);
    expect(answer.body.errors).toEqual([
      expect.objectContaining({
        message: 'Internal server error',
        path: ['customers', 'edges', 0, 'node', 'lastPurchaseAt'],
        extensions: expect.objectContaining({ code: 'INTERNAL_SERVER_ERROR' }),
      }),
    ]);
    expect(logged.join('\n')).toContain('DateTime cannot represent');
  });

  it('answers the all-time series with a masked INTERNAL_SERVER_ERROR rather than an empty series', async () => {
    const answer = await gateway.post({ query: ALL_TIME_SERIES });
    expect(answer.body.errors).toEqual([
      expect.objectContaining({
        message: 'Internal server error',
        path: ['revenue'],
        extensions: expect.objectContaining({ code: 'INTERNAL_SERVER_ERROR' }),
      }),
    ]);
  });

  it('refuses a default subscription with a coded, masked error on the field that cannot be shown', async () => {
    const client = connect(live.url);
    try {
      const trend = new Received<unknown>(
        client,
        'subscription { dashboardUpdated { totalRevenue recentTrend(days: 2) { date } } }',
      );
      await trend.ended();
      expect(trend.errors).toEqual([
        expect.objectContaining({
          message: 'Internal server error',
          path: ['dashboardUpdated', 'recentTrend', 1, 'date'],
          extensions: expect.objectContaining({ code: 'INTERNAL_SERVER_ERROR' }),
        }),
      ]);
      trend.dispose();
    } finally {
      await client.dispose();
    }
  });
});
