import { randomBytes } from 'node:crypto';
import type { KeyValueCache } from '@apollo/utils.keyvaluecache';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { openCacheStore, type CacheStore } from '../../src/cache/cache-store.js';
import { ChangeListener } from '../../src/changes/change-listener.js';
import { createRedisClient } from '../../src/cache/redis-cache.js';
import type { GatewayCache } from '../../src/cache/response-cache.js';
import type { CacheLogger } from '../../src/observability/throttled-warn.js';
import type { DatabaseHandle } from '../../src/db/database-handle.js';
import type { TestSettings } from './config.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { startTestGateway, type TestGateway, type TestGatewayOptions } from './gateway.js';

// A gateway with a response cache, and the Redis under test kept tidy: test files run in parallel against one
// Redis, so every file keeps its keys (answers, persisted queries, rate budgets) under a prefix of its own and
// removes exactly those at the end.

/**
 * The Redis the tests run against (TEST_REDIS_URL, else a local one on the default port when it answers);
 * empty when there is none, and then the tests that need it skip (test/support/requirements.ts).
 */
export const redisUrl = inject('redisUrl');

export const silentLogger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * A Redis command timeout for tests about what the cache holds rather than how it fails: on a loaded machine a
 * command may take longer than the production default of 100 ms, and a timed-out write would read as a miss.
 */
export const PATIENT_MS = 1_000;

/** A key prefix no other test file (nor another run of this one) uses. */
export function uniquePrefix(file: string): string {
  return `mp-test:${file}:${randomBytes(4).toString('hex')}:`;
}

export interface StoreOptions {
  /** Another Redis than the one under test (a relay in front of it, a closed port). */
  url?: string;
  /** 100 ms, the production default, unless a test says otherwise. */
  commandTimeoutMs?: number;
  logger?: CacheLogger;
}

export function openStore(kind: 'redis' | 'memory', keyPrefix: string, options: StoreOptions = {}): CacheStore {
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
export async function openRedisStore(keyPrefix: string, options: StoreOptions = {}): Promise<CacheStore> {
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

async function scanKeys(prefix: string, each: (redis: Redis, keys: string[]) => Promise<number>): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 0 });
  try {
    let total = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) total += await each(redis, keys);
    } while (cursor !== '0');
    return total;
  } finally {
    redis.disconnect();
  }
}

/** Deletes the keys under `prefix`, and only those. */
export async function removeKeys(prefix: string): Promise<number> {
  if (!redisUrl) return 0;
  return scanKeys(prefix, (redis, keys) => redis.del(...keys));
}

export async function countKeys(prefix: string): Promise<number> {
  return scanKeys(prefix, async (_redis, keys) => keys.length);
}

/**
 * A client of the Redis under test for rate budgets (GatewayOptions.rateLimitRedis), once it is ready; none
 * where there is no Redis, and then each gateway counts its own budget, as in production. Close it with
 * closeRedisClient.
 */
export async function openRateLimitRedis(commandTimeoutMs: number): Promise<Redis | undefined> {
  if (!redisUrl) return undefined;
  const client = createRedisClient(redisUrl, { commandTimeoutMs, logger: silentLogger });
  await new Promise((resolve) => client.once('ready', resolve));
  return client;
}

/**
 * A response cache whose data version never moves and that always hears changes: what it keeps is served
 * until its TTL whatever happens to the data, and a test sees exactly what was stored (or, with TTL 0, only
 * the persisted queries the store holds).
 */
export function frozenCache(
  store: KeyValueCache<string>,
  options: { dataVersion: string; ttlSeconds: number },
): GatewayCache {
  return {
    store,
    ttlSeconds: options.ttlSeconds,
    dataVersion: () => options.dataVersion,
    hearsChanges: () => true,
    reportTimezone: 'UTC',
  };
}

export interface CachedGateway extends TestGateway {
  changes: ChangeListener;
  store: CacheStore;
}

export interface CachedGatewayOptions {
  ttlSeconds?: number;
  reportTimezone?: string;
  hearsChanges?: () => boolean;
  /** A change listener shared with another gateway; one of its own (closed with the gateway) by default. */
  changes?: ChangeListener;
  /** Settings beside the test defaults (AUTH_MODE, rate budgets, ...). */
  config?: TestSettings;
  testOptions?: TestGatewayOptions;
}

/** A gateway with a response cache on `store`, whose data version comes from a change listener on `database`. */
export async function startCachedGateway(
  database: DatabaseHandle,
  store: CacheStore,
  options: CachedGatewayOptions = {},
): Promise<CachedGateway> {
  const shared = options.changes;
  const changes = shared ?? (await ChangeListener.start(database, silentLogger));
  await changes.whenListening();
  const gateway = await startTestGateway(
    database,
    options.config ?? {},
    {
      cacheStatus: () => store.status(),
      cache: {
        store: store.cache,
        ttlSeconds: options.ttlSeconds ?? 60,
        dataVersion: () => changes.version,
        hearsChanges: options.hearsChanges ?? (() => changes.hearsChanges),
        reportTimezone: options.reportTimezone ?? 'UTC',
      },
    },
    options.testOptions,
  );
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

export interface GatewayWithCacheOptions extends CachedGatewayOptions {
  /** Where answers are kept: the Redis under test (connected before the gateway starts), the in-process LRU, or Redis where there is one. */
  store: 'redis' | 'memory' | 'redis-if-any';
  /** The store's key prefix (from uniquePrefix): the keys under it are removed at the end. */
  prefix: string;
  /** Rows the data starts with, written with plain SQL before the gateway starts. */
  seed?: (database: DatabaseHandle) => Promise<void>;
  /** Options of a Redis store; its command timeout is PATIENT_MS unless given. */
  storeOptions?: StoreOptions & {
    /** Wait until the store has connected (true); false for a Redis that is not there. */
    awaitConnection?: boolean;
  };
  /** Puts something between the gateway and the store's cache (a counter of commands). */
  wrapCache?: (cache: KeyValueCache<string>) => KeyValueCache<string>;
}

export interface GatewayWithCache {
  database: TestDatabase;
  store: CacheStore;
  gateway: CachedGateway;
  /** Closes the gateway and the store, removes the keys under the prefix and drops the database. */
  close(): Promise<void>;
}

/** A fresh database, a cache store under its own prefix and a gateway caching in it, cleaned up with one close. */
export async function startGatewayWithCache(options: GatewayWithCacheOptions): Promise<GatewayWithCache> {
  const { store: kind, prefix, seed, storeOptions = {}, wrapCache, ...gatewayOptions } = options;
  const onRedis = kind === 'redis' || (kind === 'redis-if-any' && Boolean(redisUrl));
  const database = await createTestDatabase();
  let store: CacheStore | undefined;
  let gateway: CachedGateway | undefined;
  const close = async () => {
    await gateway?.close();
    await store?.close();
    if (onRedis) await removeKeys(prefix);
    await database.drop();
  };
  try {
    if (seed) await seed(database.handle);
    const { awaitConnection = true, ...redisOptions } = storeOptions;
    const opened = !onRedis
      ? openStore('memory', prefix)
      : awaitConnection
        ? await openRedisStore(prefix, { commandTimeoutMs: PATIENT_MS, ...redisOptions })
        : openStore('redis', prefix, { commandTimeoutMs: PATIENT_MS, ...redisOptions });
    store = opened;
    const served = wrapCache ? { ...opened, cache: wrapCache(opened.cache) } : opened;
    gateway = await startCachedGateway(database.handle, served, gatewayOptions);
    return { database, store: opened, gateway, close };
  } catch (error) {
    await close();
    throw error;
  }
}
