import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { StatementCounter } from '../../../bench/statement-counter.js';
import { loadConfig } from '../../../src/config/config.js';
import type { DatabaseHandle } from '../../../src/db/database-handle.js';
import { connectPostgres } from '../../../src/db/postgres-connector.js';
import { gatewayDatabaseOptions } from '../../../src/app/open-database.js';
import { seedDatabase } from '../../../src/seed/seed-database.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { startTestGateway, type TestGateway } from '../../support/gateway.js';
import { has } from '../../support/requirements.js';

const SLEEP_SECONDS = 0.3;
// Each statement names itself in a leading comment; pg_stat_activity shows which ones run at the same time.
const LABELS = ['dashboard.totals', 'dashboard.top_products', 'revenue.trend'] as const;

const QUERIES = {
  totals: '{ dashboard(to: "2025-06-30") { totalRevenue } }',
  topProducts: '{ dashboard(to: "2025-06-30") { topProducts { revenue } } }',
  recentTrend: '{ dashboard(to: "2025-06-30") { recentTrend(days: 7) { totalRevenue } } }',
  all: '{ dashboard(to: "2025-06-30") { totalRevenue topProducts { revenue } recentTrend(days: 7) { totalRevenue } } }',
  // The dashboard of June and the dashboard of May it is compared with, every part of both, and the changes.
  compared: `{ dashboard(from: "2025-06-01", to: "2025-06-30") {
    totalRevenue topProducts { revenue } recentTrend(days: 7) { totalRevenue }
    comparison { totalRevenue { percent } completedTransactions { percent } previous { totalRevenue topProducts { revenue } recentTrend(days: 7) { totalRevenue } } }
  } }`,
};

// Concurrency needs a PostgreSQL server with a connection pool; the embedded PGlite is a single session.
describe.runIf(has('postgres-server', 'running the dashboard queries on a pool of sessions'))(
  'dashboard concurrency',
  () => {
    let database: TestDatabase;
    let gateway: TestGateway;

    beforeAll(async () => {
      database = await createTestDatabase();
      const { db } = database.handle;
      await seedDatabase(db, { transactions: 500, seed: 7, until: '2025-06-30', days: 60 });
      // Every statement over the day rollups now waits SLEEP_SECONDS once: the views check the rollups' time
      // zone in an uncorrelated scalar subquery, an InitPlan evaluated once per statement however many rows
      // there are. With a range, totals and trend read v_daily_revenue and top products v_daily_product_sales.
      await sql
        .raw(
          `CREATE OR REPLACE FUNCTION mp_check_rollup_timezone() RETURNS boolean LANGUAGE plpgsql STABLE AS $$
         BEGIN PERFORM pg_sleep(${SLEEP_SECONDS}); RETURN true; END $$;`,
        )
        .execute(db);
      gateway = await startTestGateway(database.handle);
    });

    afterAll(async () => {
      await gateway?.close();
      await database?.drop();
    });

    async function timeQuery(query: string): Promise<number> {
      const started = performance.now();
      const { status, body } = await gateway.request(query);
      const ms = performance.now() - started;
      expect(status).toBe(200);
      expect(body.errors).toBeUndefined();
      return ms;
    }

    it('runs totals, top products and the trend concurrently, not one after another', async () => {
      await timeQuery(QUERIES.all); // warm-up: pool connections, plans
      const totals = await timeQuery(QUERIES.totals);
      const topProducts = await timeQuery(QUERIES.topProducts);
      const recentTrend = await timeQuery(QUERIES.recentTrend);
      const all = await timeQuery(QUERIES.all);
      const sum = totals + topProducts + recentTrend;

      // Each part is really slowed down, so the comparison below measures the queries rather than overhead.
      for (const part of [totals, topProducts, recentTrend])
        expect(part).toBeGreaterThanOrEqual(SLEEP_SECONDS * 1000 * 0.9);
      expect(
        all,
        `all=${all.toFixed(0)} ms, parts=${[totals, topProducts, recentTrend].map((ms) => ms.toFixed(0)).join('+')} ms`,
      ).toBeLessThan(0.75 * sum);
      expect(all).toBeLessThan(Math.max(totals, topProducts, recentTrend) + SLEEP_SECONDS * 1000);
    });

    /** The report statements PostgreSQL had active at once while `query` ran, at most, and their labels. */
    async function watchStatements(query: string): Promise<{ mostAtOnce: number; labels: string[] }> {
      const observer = new pg.Client({ connectionString: database.url });
      await observer.connect();
      let mostAtOnce = 0;
      const seenLabels = new Set<string>();
      try {
        let running = true;
        const watching = (async () => {
          while (running) {
            const { rows } = await observer.query<{ query: string }>(
              `SELECT query FROM pg_stat_activity
             WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()`,
            );
            const labelled = rows.flatMap((row) => LABELS.filter((label) => row.query.includes(`/* ${label} */`)));
            labelled.forEach((label) => seenLabels.add(label));
            mostAtOnce = Math.max(mostAtOnce, labelled.length);
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        })();
        await timeQuery(query);
        running = false;
        await watching;
      } finally {
        await observer.end();
      }
      return { mostAtOnce, labels: [...seenLabels].sort() };
    }

    it('has the three statements active in PostgreSQL at the same time', async () => {
      const { mostAtOnce, labels } = await watchStatements(QUERIES.all);
      expect(labels).toEqual([...LABELS].sort());
      expect(mostAtOnce).toBe(3);
    });

    it('reads the dashboard and the one it is compared with at the same time: six statements at once', async () => {
      const { mostAtOnce, labels } = await watchStatements(QUERIES.compared);
      expect(labels).toEqual([...LABELS].sort());
      expect(mostAtOnce).toBe(6);
    });

    it('answers a dashboard with its comparison in about the time of the dashboard alone', async () => {
      const alone = await timeQuery(QUERIES.all);
      const compared = await timeQuery(QUERIES.compared);
      // One after the other, the comparison would add a whole round of slowed statements.
      expect(compared, `compared=${compared.toFixed(0)} ms, alone=${alone.toFixed(0)} ms`).toBeLessThan(
        alone + SLEEP_SECONDS * 1000 * 0.75,
      );
    });
  },
);

// The statements a dashboard costs, counted on the wire between the gateway and PostgreSQL (bench/statement-counter.ts
// reads the protocol's Query and Execute messages): one per view query, and nothing per request or per checkout.
describe.runIf(has('postgres-server', 'counting statements on the wire to a PostgreSQL server'))(
  'dashboard statements on the wire',
  () => {
    let database: TestDatabase;
    let counter: StatementCounter;
    let gateway: TestGateway;

    beforeAll(async () => {
      database = await createTestDatabase();
      await seedDatabase(database.handle.db, { transactions: 500, seed: 7, until: '2025-06-30', days: 60 });
      const server = new URL(database.url!);
      counter = await StatementCounter.start({ host: server.hostname, port: Number(server.port || 5432) });
      // Opened as the server opens its pool, in the default direct mode: request ids, statement timings, named
      // prepared statements.
      const config = loadConfig({ DATABASE_URL: counter.proxiedUrl(database.url!), REPORT_TIMEZONE: database.zone });
      handle = connectPostgres(
        config.database.postgres!.url,
        gatewayDatabaseOptions(config.database, pino({ level: 'silent' })),
      );
      gateway = await startTestGateway(handle);
    });

    let handle: DatabaseHandle | undefined;

    afterAll(async () => {
      await gateway?.close();
      await handle?.close();
      await counter?.close();
      await database?.drop();
    });

    async function statementsFor(from: string, to: string, requestId: string): Promise<number> {
      const before = counter.statements;
      const response = await gateway.post<unknown>(
        {
          query: `query Dashboard($from: Date, $to: Date) {
          dashboard(from: $from, to: $to) {
            totalRevenue totalTransactions completedTransactions pendingTransactions cancelledTransactions avgOrderValue
            topProducts { revenue unitsSold transactionCount product { id name } }
            recentTrend { date totalRevenue transactionCount }
          }
        }`,
          variables: { from, to },
        },
        { 'x-request-id': requestId },
      );
      expect(response.body.errors).toBeUndefined();
      return counter.statements - before;
    }

    it('sends 3 statements for an uncached dashboard with both ends of its range, one per view query', async () => {
      // The first request opens connections and prepares the statements; every later one, with a range and a
      // request id of its own, finds both done.
      await statementsFor('2025-05-01', '2025-06-30', 'warm-up');
      const counts = [];
      for (let day = 1; day <= 6; day++)
        counts.push(await statementsFor(`2025-05-${String(day).padStart(2, '0')}`, '2025-06-20', `request-${day}`));
      expect(counts).toEqual([3, 3, 3, 3, 3, 3]);
    });
  },
);
