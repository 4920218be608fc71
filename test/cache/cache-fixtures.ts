import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { openCacheStore, type CacheStore } from '../../src/cache/cache-store.js';
import { ChangeListener } from '../../src/changes/change-listener.js';
import type { CacheFreshness } from '../../src/cache/response-cache.js';
import type { CacheLogger } from '../../src/cache/throttled-warn.js';
import type { DatabaseHandle } from '../../src/db/create-database.js';
import { startTestGateway, type GraphQLResponse, type TestGateway } from '../support/gateway.js';

// Shared by the cache tests: the Redis under test, stores under a key prefix of their own (test files run in
// parallel against one Redis, and none of them may touch another's keys), and rows written with plain SQL.

/**
 * The Redis the cache tests run against (TEST_REDIS_URL, else a local one on the default port when it answers);
 * empty when there is none, and then the tests that need it skip (test/support/requirements.ts).
 */
export const redisUrl = inject('redisUrl');

export const silentLogger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * A Redis command timeout for tests about what the cache holds rather than how it fails: on a loaded machine a
 * command may take longer than the production default of 100 ms, and a timed-out write would read as a miss.
 */
export const PATIENT_MS = 1_000;

export function uniquePrefix(file: string): string {
  return `mp-test:${file}:${randomBytes(4).toString('hex')}:`;
}

export function openStore(
  kind: 'redis' | 'memory',
  keyPrefix: string,
  options: { url?: string; commandTimeoutMs?: number; logger?: CacheLogger } = {},
): CacheStore {
  return openCacheStore({
    redis: kind === 'redis' ? (options.url ?? redisUrl) : undefined,
    keyPrefix,
    commandTimeoutMs: options.commandTimeoutMs ?? 100,
    maxMegabytes: 8,
    logger: options.logger ?? silentLogger,
  });
}

/**
 * A store on Redis that has connected. A store does not queue commands while it connects (nor should it: a
 * request never waits for Redis), so a test that asked at once would race the handshake and find nothing cached.
 */
export async function openRedisStore(
  keyPrefix: string,
  options: { url?: string; commandTimeoutMs?: number; logger?: CacheLogger } = {},
): Promise<CacheStore> {
  const store = openStore('redis', keyPrefix, options);
  const started = performance.now();
  while (store.status() !== 'up') {
    if (performance.now() - started > 10_000) {
      await store.close();
      throw new Error(`the Redis at ${options.url ?? redisUrl} did not answer within 10 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return store;
}

/** Waits until the Redis at `url` answers a PING on a connection of its own. */
export async function waitForRedis(url = redisUrl): Promise<void> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await probe.connect();
    await probe.ping();
  } finally {
    probe.disconnect();
  }
}

/** Deletes this test file's keys, and only those. */
export async function removeKeys(prefix: string): Promise<number> {
  if (!redisUrl) return 0;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 0 });
  try {
    let removed = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) removed += await redis.del(...keys);
    } while (cursor !== '0');
    return removed;
  } finally {
    redis.disconnect();
  }
}

export async function countKeys(prefix: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 0 });
  try {
    let count = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      count += keys.length;
    } while (cursor !== '0');
    return count;
  } finally {
    redis.disconnect();
  }
}

export interface CachedGateway extends TestGateway {
  changes: ChangeListener;
  store: CacheStore;
}

/** A gateway with a response cache on `store` and a change listener of its own on `database`. */
export async function startCachedGateway(
  database: DatabaseHandle,
  store: CacheStore,
  options: { ttlSeconds?: number; reportTimezone?: string; hearsChanges?: () => boolean; changes?: ChangeListener } = {},
): Promise<CachedGateway> {
  const shared = options.changes;
  const changes = shared ?? (await ChangeListener.start(database, silentLogger));
  await changes.whenListening();
  const gateway = await startTestGateway(database, {}, {
    cacheStatus: () => store.status(),
    cache: {
      store: store.cache,
      ttlSeconds: options.ttlSeconds ?? 60,
      dataVersion: () => changes.version,
      hearsChanges: options.hearsChanges ?? (() => changes.hearsChanges),
      reportTimezone: options.reportTimezone ?? 'UTC',
    },
  });
  return {
    ...gateway,
    changes,
    store,
    close: async () => {
      await gateway.close();
      if (!shared) await changes.close();
    },
  };
}

export type Dashboard = {
  dashboard: { totalRevenue: string; totalTransactions: number; topProducts: { revenue: string }[] };
};

export const DASHBOARD = `query Dashboard($from: Date, $to: Date, $limit: Int) {
  dashboard(from: $from, to: $to) { totalRevenue totalTransactions topProducts(limit: $limit) { revenue } }
}`;

export interface Answer<T> {
  status: number;
  headers: Record<string, unknown>;
  body: GraphQLResponse<T>;
  cache: CacheFreshness | undefined;
  ms: number;
}

/** POSTs a query and times it; `cache` is the response's `extensions.cache`. */
export async function ask<T = Dashboard>(gateway: TestGateway, payload: object): Promise<Answer<T>> {
  const started = performance.now();
  const response = await gateway.post<T>(payload);
  const ms = performance.now() - started;
  return { ...response, cache: response.body.extensions?.cache as CacheFreshness | undefined, ms };
}

export function dashboard(variables: Record<string, unknown> = {}) {
  return { query: DASHBOARD, operationName: 'Dashboard', variables };
}

/** The SHA-256 that automatic persisted queries name a query by. */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

let nextId = 1_000_000;

/** A customer, a product and `count` completed transactions of `amount` each, written with plain SQL in one commit. */
export async function insertSale(database: DatabaseHandle, amount: string, count = 1, date = '2025-03-10T12:00:00Z'): Promise<void> {
  const id = nextId;
  nextId += count + 1;
  await database.db.transaction().execute(async (trx) => {
    await sql`INSERT INTO customers (id, name, created_at) VALUES (${id}, ${`לקוח ${id}`}, now())`.execute(trx);
    await sql`INSERT INTO products (id, sku, name, category, unit_price)
              VALUES (${id}, ${`SKU-${id}`}, ${`מוצר ${id}`}, 'בדיקות', ${amount})`.execute(trx);
    await sql`INSERT INTO transactions (id, customer_id, product_id, quantity, amount, status, transaction_date)
              SELECT ${id} + n, ${id}, ${id}, 1, ${amount}::numeric, 'completed', ${date}::timestamptz
              FROM generate_series(1, ${count}::int) AS n`.execute(trx);
  });
}

/** The highest version a listener knows of, from its key ("42", "42~41", "42@3fa9c1.0"). */
export function announced(version: string): bigint {
  return BigInt(/^\d+/.exec(version)![0]);
}

export async function readVersion(database: DatabaseHandle): Promise<bigint> {
  const { rows } = await sql<{ version: string }>`SELECT mp_data_version()::text AS version`.execute(database.db);
  return BigInt(rows[0]!.version);
}

/**
 * Waits until a listener has heard every announcement up to the database's current version: one commit can
 * announce several versions (one per statement), and an answer may see the data before the last of them.
 */
export async function caughtUp(changes: ChangeListener, database: DatabaseHandle): Promise<void> {
  const target = await readVersion(database);
  const started = performance.now();
  while (announced(changes.version) < target) {
    if (performance.now() - started > 1_000) throw new Error(`the listener is at ${changes.version}, the database at ${target}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Asks again until `accept` holds or `withinMs` has passed; returns the last answer and when it came. */
export async function pollUntil<T>(
  run: () => Promise<Answer<T>>,
  accept: (answer: Answer<T>) => boolean,
  withinMs = 1_000,
): Promise<{ answer: Answer<T>; afterMs: number }> {
  const started = performance.now();
  for (;;) {
    const answer = await run();
    const afterMs = performance.now() - started;
    if (accept(answer) || afterMs > withinMs) return { answer, afterMs };
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
