import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheStore } from '../../src/cache/cache-store.js';
import { ChangeListener } from '../../src/changes/change-listener.js';
import type { DatabaseHandle } from '../../src/db/database-handle.js';
import { openEmbedded } from '../../src/db/pglite-connector.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { has } from '../support/requirements.js';
import { ask, caughtUp, dashboard, insertSale, pollUntil, readVersion } from './cache-fixtures.js';
import {
  type CachedGateway,
  type GatewayWithCache,
  openRedisStore,
  PATIENT_MS,
  removeKeys,
  silentLogger,
  startCachedGateway,
  startGatewayWithCache,
  uniquePrefix,
} from '../support/gateway-with-cache.js';

const prefix = uniquePrefix('invalidation');
const TOTALS = dashboard();

/** Answers the dashboard twice, so that the second answer is a cache hit, and returns its revenue. */
async function warm(gateway: CachedGateway, database: DatabaseHandle): Promise<string> {
  await settle(gateway, database);
  const first = await ask(gateway, TOTALS);
  const second = await ask(gateway, TOTALS);
  expect(second.cache?.hit).toBe(true);
  expect(second.body.data).toEqual(first.body.data);
  return second.body.data!.dashboard.totalRevenue;
}

async function expectRevenueWithinASecond(gateway: CachedGateway, revenue: string) {
  const { answer, afterMs } = await pollUntil(
    () => ask(gateway, TOTALS),
    (a) => a.body.data?.dashboard.totalRevenue === revenue,
  );
  expect(answer.body.data?.dashboard.totalRevenue).toBe(revenue);
  expect(afterMs).toBeLessThan(1_000);
  return answer;
}

/** Waits for the rest of a commit's announcements, so that what follows is not a miss because of them. */
async function settle(gateway: CachedGateway, database: DatabaseHandle) {
  await caughtUp(gateway.changes, database);
}

const kinds = has('redis', 'invalidation with the cache on Redis')
  ? (['redis', 'memory'] as const)
  : (['memory'] as const);

describe.each(kinds)('invalidation with the cache on %s', (kind) => {
  let setup: GatewayWithCache;
  let database: TestDatabase;
  let gateway: CachedGateway;

  beforeAll(async () => {
    setup = await startGatewayWithCache({
      store: kind,
      prefix: `${prefix}${kind}:`,
      seed: (database) => insertSale(database, '50.00'),
    });
    ({ database, gateway } = setup);
  });

  afterAll(async () => {
    await setup?.close();
  });

  it('changes the next dashboard answer within a second of a transaction written straight into PostgreSQL', async () => {
    expect(await warm(gateway, database.handle)).toBe('50.00');
    const before = gateway.changes.version;

    await insertSale(database.handle, '25.00');

    const answer = await expectRevenueWithinASecond(gateway, '75.00');
    expect(answer.cache?.hit).toBe(false);
    expect(answer.cache?.dataVersion).not.toBe(before);
    await settle(gateway, database.handle);
    expect(BigInt(gateway.changes.version)).toBe(await readVersion(database.handle));
    await ask(gateway, TOTALS);
    expect((await ask(gateway, TOTALS)).cache?.hit).toBe(true);
  });

  it('follows updates and deletes as well as inserts', async () => {
    await warm(gateway, database.handle);
    await sql`UPDATE transactions SET status = 'cancelled' WHERE amount = 25.00`.execute(database.handle.db);
    await expectRevenueWithinASecond(gateway, '50.00');
    await warm(gateway, database.handle);
    await sql`DELETE FROM transactions`.execute(database.handle.db);
    await expectRevenueWithinASecond(gateway, '0.00');
  });
});

// What follows needs several sessions on one database, which the embedded PGlite does not have.
const acrossSessions = 'invalidation across sessions and gateways';
describe.runIf(has('postgres-server', acrossSessions) && has('redis', acrossSessions))(acrossSessions, () => {
  let database: TestDatabase;
  let store: CacheStore;
  const keys = `${prefix}shared:`;

  beforeAll(async () => {
    database = await createTestDatabase();
    await insertSale(database.handle, '10.00');
    store = await openRedisStore(keys, { commandTimeoutMs: PATIENT_MS });
  });

  afterAll(async () => {
    await store?.close();
    await database?.drop();
    await removeKeys(keys);
  });

  it('lets two gateways sharing one Redis key alike from start-up on, and both see a change', async () => {
    const other = await database.reopen();
    const a = await startCachedGateway(database.handle, store);
    const b = await startCachedGateway(other, await openRedisStore(keys, { commandTimeoutMs: PATIENT_MS }));
    try {
      // Both read the settled version after listening: nothing is open, so both vouch for the same number, and b
      // answers from what a cached before any change.
      expect(a.changes.version).toBe(String(await readVersion(database.handle)));
      expect(b.changes.version).toBe(a.changes.version);
      const before = await ask(a, TOTALS);
      const shared = await ask(b, TOTALS);
      expect(shared.cache).toEqual({
        hit: true,
        ageSeconds: expect.any(Number),
        dataVersion: before.cache?.dataVersion,
      });
      expect(shared.body.data).toEqual(before.body.data);

      await insertSale(database.handle, '5.00');
      const expected = (Number(before.body.data!.dashboard.totalRevenue) + 5).toFixed(2);
      const [seenByA, seenByB] = await Promise.all([
        expectRevenueWithinASecond(a, expected),
        expectRevenueWithinASecond(b, expected),
      ]);
      await settle(a, database.handle);
      await settle(b, database.handle);
      expect(a.changes.version).toBe(b.changes.version);

      // Same data version, same key: b answers from what a cached.
      const fromA = await ask(a, TOTALS);
      const fromB = await ask(b, TOTALS);
      expect(fromB.cache?.hit).toBe(true);
      expect(fromB.cache?.dataVersion).toBe(fromA.cache?.dataVersion);
      expect(fromB.body.data).toEqual(fromA.body.data);
      expect([seenByA, seenByB].map((answer) => answer.body.data)).toEqual([fromA.body.data, fromA.body.data]);

      // And the next change reaches both again.
      await insertSale(database.handle, '1.00');
      const next = (Number(expected) + 1).toFixed(2);
      await Promise.all([expectRevenueWithinASecond(a, next), expectRevenueWithinASecond(b, next)]);
    } finally {
      await a.close();
      await b.close();
      await b.store.close();
    }
  });

  it('never keys answers that lack a late-committing transaction the way answers that have it are keyed', async () => {
    const a = await startCachedGateway(database.handle, store);
    const b = await startCachedGateway(
      await database.reopen(),
      await openRedisStore(keys, { commandTimeoutMs: PATIENT_MS }),
    );
    const started: CachedGateway[] = [];
    const slow = new pg.Client({ connectionString: database.url });
    await slow.connect();
    const COUNT = { query: '{ products { totalCount } }' };
    type Count = { products: { totalCount: number } };
    const countWithinASecond = async (gateway: CachedGateway, expected: number) => {
      const { answer, afterMs } = await pollUntil(
        () => ask<Count>(gateway, COUNT),
        (candidate) => candidate.body.data?.products.totalCount === expected,
      );
      expect(answer.body.data?.products.totalCount).toBe(expected);
      expect(afterMs).toBeLessThan(1_000);
      return answer;
    };
    try {
      const products = (await ask<Count>(a, COUNT)).body.data!.products.totalCount;
      expect((await ask<Count>(b, COUNT)).cache?.hit).toBe(true);

      // The slow writer takes its data version first and commits last.
      await slow.query('BEGIN');
      await slow.query(
        `INSERT INTO products (id, sku, name, category, unit_price) VALUES (9000001, 'SKU-SLOW', 'מוצר איטי', 'בדיקות', 1.00)`,
      );
      const slowVersion = BigInt(
        (await slow.query<{ v: string }>("SELECT currval('data_version_seq')::text AS v")).rows[0]!.v,
      );
      await insertSale(database.handle, '1.00');
      const latest = await readVersion(database.handle);
      expect(latest).toBeGreaterThan(slowVersion);
      // Both see the short writer's product, under a key that says the slow one's version has not ended.
      await countWithinASecond(a, products + 1);
      await countWithinASecond(b, products + 1);
      await caughtUp(a.changes, database.handle);
      await caughtUp(b.changes, database.handle);
      const lacking = a.changes.version;
      expect(lacking).toBe(`${slowVersion - 1n}+${slowVersion + 1n}-${latest}`);
      expect(b.changes.version).toBe(lacking);
      expect((await ask<Count>(b, COUNT)).cache).toMatchObject({ hit: true, dataVersion: lacking });
      // A gateway started now cannot know whether a version up to the latest committed before it listened: it
      // keys by its own version until the slow one has ended.
      const late = await startCachedGateway(
        await database.reopen(),
        await openRedisStore(keys, { commandTimeoutMs: PATIENT_MS }),
      );
      started.push(late);
      expect(late.changes.version).toMatch(new RegExp(`^${slowVersion - 1n}@[0-9a-f]{6}\\.0$`));
      expect((await ask<Count>(late, COUNT)).cache?.hit).toBe(false);

      await slow.query('COMMIT');
      // Every gateway now keys by the plain latest version, never used while the slow version was open, and what
      // is cached under it has the slow writer's product.
      for (const gateway of [a, b, late]) {
        const answer = await countWithinASecond(gateway, products + 2);
        expect(answer.cache?.dataVersion).not.toBe(lacking);
      }
      const agreed = performance.now();
      while (
        ![a, b, late].every((gateway) => gateway.changes.version === String(latest)) &&
        performance.now() - agreed < 2_000
      ) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      for (const gateway of [a, b, late]) expect(gateway.changes.version).toBe(String(latest));
      const fromA = await ask<Count>(a, COUNT);
      for (const gateway of [b, late]) {
        const answer = await ask<Count>(gateway, COUNT);
        expect(answer.cache).toMatchObject({ hit: true, dataVersion: String(latest) });
        expect(answer.body.data).toEqual(fromA.body.data);
      }
      expect(fromA.body.data?.products.totalCount).toBe(products + 2);
    } finally {
      await slow.end();
      for (const gateway of [a, b, ...started]) await gateway.close();
      await b.store.close();
      for (const gateway of started) await gateway.store.close();
    }
  });

  it('names many runs of versions heard out of order by a digest, alike on two gateways, until the gaps close', async () => {
    const a = await startCachedGateway(database.handle, store);
    const b = await startCachedGateway(
      await database.reopen(),
      await openRedisStore(keys, { commandTimeoutMs: PATIENT_MS }),
    );
    const slow = new pg.Client({ connectionString: database.url });
    await slow.connect();
    try {
      // The slow transaction's statements take every other version, the quick commits the ones between.
      await slow.query('BEGIN');
      await slow.query(
        `INSERT INTO products (id, sku, name, category, unit_price) VALUES (9100101, 'SKU-RUNS-0', 'מוצר', 'בדיקות', 1.00)`,
      );
      const first = BigInt(
        (await slow.query<{ v: string }>(`SELECT currval('data_version_seq')::text AS v`)).rows[0]!.v,
      );
      for (let i = 1; i <= 5; i++) {
        await sql`UPDATE products SET unit_price = unit_price WHERE id = -1`.execute(database.handle.db);
        await slow.query(`UPDATE products SET name = name WHERE id = 9100101`);
      }
      const latest = await readVersion(database.handle);
      expect(latest).toBe(first + 10n);
      const started = performance.now();
      while (
        (a.changes.latestVersion < latest - 1n || b.changes.latestVersion < latest - 1n) &&
        performance.now() - started < 2_000
      ) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // Five runs (first+1, +3, +5, +7, +9): more than a key lists one by one.
      expect(a.changes.version).toMatch(new RegExp(`^${first - 1n}\\+5#[0-9a-f]{16}$`));
      expect(b.changes.version).toBe(a.changes.version);
      expect(a.changes.settledVersion).toBe(first - 1n);

      await slow.query('COMMIT');
      const settled = performance.now();
      while (
        [a, b].some((gateway) => gateway.changes.version !== String(latest)) &&
        performance.now() - settled < 2_000
      ) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect([a.changes.version, b.changes.version]).toEqual([String(latest), String(latest)]);
    } finally {
      await slow.end();
      await a.close();
      await b.close();
      await b.store.close();
    }
  });

  it('reconnects the listener after its session is killed, and catches up with a change made meanwhile', async () => {
    const gateway = await startCachedGateway(database.handle, store);
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      const revenue = await warm(gateway, database.handle);
      const listeners = async () =>
        (
          await admin.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'marketpulse-listener'`,
          )
        ).rows.map((row) => row.pid);
      const [killed] = await listeners();
      expect(killed).toBeDefined();

      // Kill the session and write in the same transaction: the announcement is made at commit, when the
      // listener is gone (pg_terminate_backend waits for that), so it is lost and only the re-read can see it.
      await admin.query('BEGIN');
      await admin.query(`INSERT INTO transactions (id, customer_id, product_id, quantity, amount, status, transaction_date)
                         SELECT 9100001, id, id, 1, 7.00, 'completed', '2025-03-12T10:00:00Z' FROM customers LIMIT 1`);
      expect((await admin.query('SELECT pg_terminate_backend($1, 5000) AS done', [killed])).rows[0].done).toBe(true);
      await admin.query('COMMIT');

      let now = await listeners();
      for (let tries = 0; tries < 100 && (now.length === 0 || now.includes(killed!)); tries++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        now = await listeners();
      }
      expect(now).toHaveLength(1);
      expect(now).not.toContain(killed);
      await gateway.changes.whenListening();
      // After the reconnection it reads the settled version again: nothing is open, so it vouches for it at once
      // (a key of its own only while a version taken before it listened again may still be open).
      expect(gateway.changes.version).toMatch(/^\d+(@[0-9a-f]+\.\d+)?$/);
      expect(gateway.changes.latestVersion).toBe(await readVersion(database.handle));
      await expectRevenueWithinASecond(gateway, (Number(revenue) + 7).toFixed(2));

      // And it listens again: the next change arrives as an announcement.
      await warm(gateway, database.handle);
      await insertSale(database.handle, '3.00');
      await expectRevenueWithinASecond(gateway, (Number(revenue) + 10).toFixed(2));
    } finally {
      await admin.end();
      await gateway.close();
    }
  });
});

describe('the change listener on the embedded PGlite', () => {
  let handle: DatabaseHandle;
  let listener: ChangeListener;

  beforeAll(async () => {
    handle = await openEmbedded(undefined);
    await migrateToLatest(handle);
    listener = await ChangeListener.start(handle, silentLogger);
    await listener.whenListening();
  });

  afterAll(async () => {
    await listener?.close();
    await handle?.close();
  });

  it('follows the data version through PGlite’s own LISTEN', async () => {
    const before = listener.version;
    await insertSale(handle, '1.00');
    const started = performance.now();
    while (listener.version === before && performance.now() - started < 1_000) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(listener.version).not.toBe(before);
    expect(BigInt(listener.version)).toBe(await readVersion(handle));
  });
});
