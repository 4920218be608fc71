import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { describeRoutes } from '../support/routes.js';
import {
  DASHBOARD_TOTALS,
  Received,
  connect,
  eventually,
  expectedTotals,
  insertTransaction,
  seedCatalogue,
  sleep,
  startLiveGateway,
  takeIds,
  type LiveGateway,
  type TotalsMessage,
} from './subscription-fixtures.js';
import { has } from '../support/requirements.js';

const RANGE = { from: '2025-03-01', to: '2025-03-31' };

let database: TestDatabase;
let gateway: LiveGateway;
const cleanups: (() => void | Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  await eventually(() => gateway.subscriptions.stats.activeSubscriptions === 0, 5_000, 'subscriptions released');
});

function subscribeTotals(variables: Record<string, unknown> = RANGE) {
  const client = connect(gateway.url);
  const received = new Received<TotalsMessage>(client, DASHBOARD_TOTALS, variables);
  cleanups.push(() => client.dispose());
  return received;
}

// Directly, and through PgBouncer in transaction mode with the change listener on the direct URL: a session
// that LISTENs through a transaction pooler hears nothing once its transaction ends.
describeRoutes((route) => {
  // Each route on a database of its own: the tests below count on the figures the ones before them left.
  beforeAll(async () => {
    database = await createTestDatabase();
    await seedCatalogue(database.handle);
    await insertTransaction(database.handle, { amount: '100.00', date: '2025-03-05T10:00:00Z' });
    // 200 subscribers share a live query here, all from this one (anonymous) client address.
    gateway = await startLiveGateway(await route.open(database), { SUBSCRIPTIONS_MAX_PER_PRINCIPAL: 1_000 });
  });

  afterAll(async () => {
    await gateway?.close();
    await database?.drop();
  });

  describe('dashboardUpdated', () => {
    it('sends the current figures at once, then the new ones within a second of a transaction inserted straight into PostgreSQL', async () => {
      const received = subscribeTotals();
      await received.waitForResults(1);
      expect(received.last!.dashboardUpdated).toEqual(await expectedTotals(database.handle, RANGE.from, RANGE.to));

      await insertTransaction(database.handle, { amount: '25.50', date: '2025-03-20T23:30:00Z' });
      const committedAt = performance.now();
      await received.waitForResults(2);
      const delay = received.receivedAt[1]! - committedAt;

      const expected = await expectedTotals(database.handle, RANGE.from, RANGE.to);
      expect(expected.totalRevenue).toBe('125.50');
      expect(received.last!.dashboardUpdated).toEqual(expected);
      expect(delay).toBeLessThan(1_000);
    });

    it('recomputes a range once per change, however many subscribe to it', async () => {
      const { stats } = gateway.subscriptions;
      const beforeJoining = stats.recomputations;
      const subscribers = Array.from({ length: 200 }, () => subscribeTotals());
      await Promise.all(subscribers.map((received) => received.waitForResults(1, 30_000)));
      // One computation of the first result, shared by all 200.
      expect(stats.recomputations - beforeJoining).toBe(1);
      expect(stats.liveQueries).toBe(1);
      expect(stats.activeSubscriptions).toBe(200);
      const before = stats.recomputations;

      await insertTransaction(database.handle, { amount: '10.00', date: '2025-03-21T08:00:00Z' });
      await Promise.all(subscribers.map((received) => received.waitForResults(2, 30_000)));
      await sleep(500);

      expect(stats.recomputations - before).toBe(1);
      const expected = await expectedTotals(database.handle, RANGE.from, RANGE.to);
      for (const received of subscribers) {
        expect(received.results).toHaveLength(2);
        expect(received.last!.dashboardUpdated).toEqual(expected);
      }
    });

    it('gathers a burst of 1,000 inserted transactions into a few pushes, the last one exactly right', async () => {
      const received = subscribeTotals();
      await received.waitForResults(1);
      const first = takeIds(1_000);
      const statuses = ['completed', 'completed', 'completed', 'pending', 'cancelled'];
      const started = performance.now();
      // As an ETL job writes them: 20 statements of 50 rows, each its own commit and its own announcement.
      for (let batch = 0; batch < 20; batch++) {
        const rows = Array.from({ length: 50 }, (_, k) => {
          const i = batch * 50 + k;
          const day = i % 40;
          const date =
            day < 31
              ? `2025-03-${String(day + 1).padStart(2, '0')}T12:00:00Z`
              : `2025-04-${String(day - 30).padStart(2, '0')}T12:00:00Z`;
          return sql`(${first + i}, ${1 + (i % 2)}, 1, 1, ${(1 + (i % 97) / 4).toFixed(2)}::numeric, ${statuses[i % 5]}, ${date}::timestamptz)`;
        });
        await sql`INSERT INTO transactions (id, customer_id, product_id, quantity, amount, status, transaction_date)
                  VALUES ${sql.join(rows)}`.execute(database.handle.db);
      }
      const insertMs = performance.now() - started;
      const expected = await expectedTotals(database.handle, RANGE.from, RANGE.to);
      await received.until(
        () => received.last?.dashboardUpdated.totalRevenue === expected.totalRevenue,
        15_000,
        'the final figures',
      );
      // Anything still on its way would arrive after the debounce.
      await sleep(1_000);

      const pushes = received.results.length - 1;
      expect(pushes, `20 commits took ${Math.round(insertMs)} ms`).toBeGreaterThanOrEqual(1);
      expect(pushes, `20 commits took ${Math.round(insertMs)} ms`).toBeLessThanOrEqual(3);
      expect(received.last!.dashboardUpdated).toEqual(expected);
    });

    it('does not push a result that did not change', async () => {
      const received = subscribeTotals();
      await received.waitForResults(1);
      const { stats } = gateway.subscriptions;
      const recomputed = stats.recomputations;
      const unchanged = stats.unchanged;

      // Outside the subscribed range: the live query is recomputed, to the same figures.
      await insertTransaction(database.handle, { amount: '999.00', date: '2025-05-02T12:00:00Z' });
      await eventually(() => stats.unchanged > unchanged, 5_000, 'the recomputation');
      await sleep(1_000);

      expect(stats.recomputations).toBeGreaterThan(recomputed);
      expect(received.results).toHaveLength(1);
    });

    it('pushes a revenue series through revenueUpdated', async () => {
      const client = connect(gateway.url);
      cleanups.push(() => client.dispose());
      type Series = { revenueUpdated: { totalRevenue: string; points: { date: string; totalRevenue: string }[] } };
      const received = new Received<Series>(
        client,
        `subscription Series($from: Date, $to: Date) {
          revenueUpdated(from: $from, to: $to, granularity: MONTH) { totalRevenue points { date totalRevenue } }
        }`,
        { from: '2025-06-01', to: '2025-07-31' },
      );
      await received.waitForResults(1);
      expect(received.last!.revenueUpdated).toEqual({
        totalRevenue: '0.00',
        points: [
          { date: '2025-06-01', totalRevenue: '0.00' },
          { date: '2025-07-01', totalRevenue: '0.00' },
        ],
      });

      await insertTransaction(database.handle, { amount: '42.00', date: '2025-07-04T09:00:00Z' });
      await received.waitForResults(2);
      expect(received.last!.revenueUpdated).toEqual({
        totalRevenue: '42.00',
        points: [
          { date: '2025-06-01', totalRevenue: '0.00' },
          { date: '2025-07-01', totalRevenue: '42.00' },
        ],
      });
    });

    it('pushes a dashboard with its comparison, and again when only the range compared with changes', async () => {
      const client = connect(gateway.url);
      cleanups.push(() => client.dispose());
      type Change = { current: string; previous: string; difference: string; percent: string | null };
      type Compared = {
        dashboardUpdated: {
          totalRevenue: string;
          comparison: { from: string; to: string; totalRevenue: Change; previous: { totalRevenue: string } };
        };
      };
      const received = new Received<Compared>(
        client,
        `subscription Compared($from: Date, $to: Date) {
          dashboardUpdated(from: $from, to: $to) {
            totalRevenue
            comparison { from to totalRevenue { current previous difference percent } previous { totalRevenue } }
          }
        }`,
        RANGE,
      );
      const february = { from: '2025-02-01', to: '2025-02-28' };
      const expected = async () => {
        const current = (await expectedTotals(database.handle, RANGE.from, RANGE.to)).totalRevenue;
        const previous = (await expectedTotals(database.handle, february.from, february.to)).totalRevenue;
        const { rows } = await sql<{ difference: string; percent: string | null }>`
          SELECT (${current}::numeric - ${previous}::numeric)::text AS difference,
                 CASE WHEN ${previous}::numeric = 0 THEN NULL
                      ELSE round((${current}::numeric - ${previous}::numeric) * 100 / ${previous}::numeric, 2)::text END AS percent`.execute(
          database.handle.db,
        );
        return {
          totalRevenue: current,
          comparison: {
            ...february,
            totalRevenue: { current, previous, ...rows[0]! },
            previous: { totalRevenue: previous },
          },
        };
      };
      await received.waitForResults(1);
      const first = await expected();
      expect(first.comparison.totalRevenue.percent).toBeNull();
      expect(received.last!.dashboardUpdated).toEqual(first);

      // A sale in February changes nothing of March, and everything of the comparison.
      await insertTransaction(database.handle, { amount: '80.00', date: '2025-02-14T10:00:00Z' });
      await received.waitForResults(2);
      const second = await expected();
      expect(second.totalRevenue).toBe(first.totalRevenue);
      expect(second.comparison.totalRevenue.previous).toBe('80.00');
      expect(received.last!.dashboardUpdated).toEqual(second);
    });

    it('pushes a revenue series with its comparison a year earlier through revenueUpdated', async () => {
      const client = connect(gateway.url);
      cleanups.push(() => client.dispose());
      type Series = { totalRevenue: string; points: { date: string; totalRevenue: string }[] };
      type Compared = { revenueUpdated: Series & { comparison: Series & { from: string; to: string } } };
      const received = new Received<Compared>(
        client,
        `subscription Series($from: Date, $to: Date) {
          revenueUpdated(from: $from, to: $to, granularity: MONTH) {
            totalRevenue points { date totalRevenue }
            comparison(period: PREVIOUS_YEAR) { from to totalRevenue points { date totalRevenue } }
          }
        }`,
        { from: '2025-09-01', to: '2025-10-31' },
      );
      // Nothing is sold in September and October 2025: the series stays at zero, its comparison moves.
      const unsold = {
        totalRevenue: '0.00',
        points: [
          { date: '2025-09-01', totalRevenue: '0.00' },
          { date: '2025-10-01', totalRevenue: '0.00' },
        ],
      };
      await received.waitForResults(1);
      expect(received.last!.revenueUpdated).toEqual({
        ...unsold,
        comparison: {
          from: '2024-09-01',
          to: '2024-10-31',
          totalRevenue: '0.00',
          points: [
            { date: '2024-09-01', totalRevenue: '0.00' },
            { date: '2024-10-01', totalRevenue: '0.00' },
          ],
        },
      });

      await insertTransaction(database.handle, { amount: '19.90', date: '2024-10-31T23:59:59Z' });
      await received.waitForResults(2);
      expect(received.last!.revenueUpdated).toEqual({
        ...unsold,
        comparison: {
          from: '2024-09-01',
          to: '2024-10-31',
          totalRevenue: '19.90',
          points: [
            { date: '2024-09-01', totalRevenue: '0.00' },
            { date: '2024-10-01', totalRevenue: '19.90' },
          ],
        },
      });
    });

    // Needs a second session to kill the listening one, which the embedded PGlite does not have.
    it.runIf(has('postgres-server', 'killing the change listener’s session from another one'))(
      'recomputes after the change listener reconnects, since changes made meanwhile were not announced',
      async () => {
        const received = subscribeTotals();
        await received.waitForResults(1);
        const admin = new pg.Client({ connectionString: database.url });
        await admin.connect();
        const killListener = () =>
          admin.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE application_name = 'marketpulse-listener' AND datname = current_database()`,
          );
        try {
          // Without any write: the reconnection alone recomputes the live queries (and pushes nothing new).
          const { stats } = gateway.subscriptions;
          const recomputed = stats.recomputations;
          await killListener();
          await eventually(() => stats.recomputations > recomputed, 10_000, 'a recomputation after the reconnection');
          expect(received.results).toHaveLength(1);

          await killListener();
          // Written while the listener is away (it reconnects after a backoff of 100 ms at least).
          await insertTransaction(database.handle, { amount: '7.25', date: '2025-03-22T08:00:00Z' });
          await received.waitForResults(2);
          expect(received.last!.dashboardUpdated).toEqual(await expectedTotals(database.handle, RANGE.from, RANGE.to));
        } finally {
          await admin.end();
        }
      },
    );
  });
});
