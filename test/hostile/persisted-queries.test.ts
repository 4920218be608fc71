import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheStore } from '../../src/cache/cache-store.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import {
  frozenCache,
  openRedisStore,
  redisUrl,
  removeKeys,
  uniquePrefix,
  waitForRedis,
} from '../support/gateway-with-cache.js';

// Automatic persisted queries put client text into the shared Redis. A registration is kept an hour at most,
// only up to PERSISTED_QUERY_MAX_BYTES (8 KiB), only once its document passed every check, and it is paid
// for by size from the caller's rate budget.

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const persisted = (query: string) => ({ extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } } });

/** A valid, cheap query of about `bytes`, distinct per `tag`, padded with comment lines. */
function padded(tag: string, bytes: number): string {
  const head = `query Registered_${tag} { __typename }\n`;
  return `${head}${`#${'x'.repeat(78)}\n`.repeat(Math.floor((bytes - head.length) / 80))}`;
}

let database: TestDatabase;
let store: CacheStore;
let gateway: TestGateway;
let redis: Redis;
const prefix = uniquePrefix('hostile-apq');

beforeAll(async () => {
  await waitForRedis();
  database = await createTestDatabase();
  // Connected before the first registration: a store does not queue commands while it connects.
  store = await openRedisStore(prefix, { commandTimeoutMs: 1_000 });
  gateway = await startTestGateway(
    database.handle,
    { RATE_LIMIT_POINTS: 20_000, CACHE_KEY_PREFIX: prefix },
    { cache: frozenCache(store.cache, { dataVersion: '1', ttlSeconds: 0 }) },
  );
  redis = new Redis(redisUrl, { maxRetriesPerRequest: 0 });
});

afterAll(async () => {
  await gateway?.close();
  await store?.close();
  await removeKeys(prefix);
  redis?.disconnect();
  await database?.drop();
});

/** Waits until a registration has reached Redis (Apollo stores it without awaiting), or gives up. */
async function registeredTtl(query: string): Promise<number> {
  const key = `${prefix}apq:${sha256(query)}`;
  for (let tries = 0; tries < 20; tries++) {
    const ttl = await redis.ttl(key);
    if (ttl !== -2) return ttl;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return -2;
}

const remaining = (headers: Record<string, unknown>) => Number(headers['ratelimit-remaining']);

describe('persisted-query registrations', () => {
  it('keeps a registration for an hour, not a day', async () => {
    const query = padded('hour', 500);
    const response = await gateway.post({ query, ...persisted(query) });
    expect(response.body.data).toEqual({ __typename: 'Query' });
    const ttl = await registeredTtl(query);
    expect(ttl).toBeGreaterThan(3_500);
    expect(ttl).toBeLessThanOrEqual(3_600);
    expect((await gateway.post(persisted(query))).body.data).toEqual({ __typename: 'Query' });
  });

  it('answers a registration of 20 KB but does not keep it', async () => {
    const query = padded('large', 20_000);
    const response = await gateway.post({ query, ...persisted(query) });
    expect(response.body.data).toEqual({ __typename: 'Query' });
    expect(await registeredTtl(query)).toBe(-2);
    expect((await gateway.post(persisted(query))).body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');
  });

  it('charges a registration 1 point per 10 bytes of its document, on top of its cost', async () => {
    const plain = padded('priced', 5_000);
    const before = await gateway.post({ query: `{ __typename }` });
    const ran = await gateway.post({ query: plain });
    // The same document, registered: 500 points more than running it.
    const registered = await gateway.post({ query: plain, ...persisted(plain) });
    const unregistered = remaining(before.headers) - remaining(ran.headers);
    const withRegistration = remaining(ran.headers) - remaining(registered.headers);
    expect(unregistered).toBe(1);
    expect(withRegistration).toBe(1 + Math.ceil(Buffer.byteLength(plain) / 10));
  });

  it('keeps only documents that passed every check', async () => {
    const invalid = `{ nope } # ${'x'.repeat(100)}`;
    const tooCostly =
      '{ customers(first: 100) { edges { node { favoriteProduct { topCustomers(limit: 20) { favoriteProduct { topCustomers(limit: 20) { id } } } } } } } }';
    for (const query of [invalid, tooCostly]) {
      const response = await gateway.post({ query, ...persisted(query) });
      expect(response.body.errors?.length).toBeGreaterThan(0);
      expect(await registeredTtl(query)).toBe(-2);
    }
  });

  it('refuses a registration the budget cannot pay for, and keeps nothing', async () => {
    const poor = await startTestGateway(
      database.handle,
      { RATE_LIMIT_POINTS: 300, CACHE_KEY_PREFIX: prefix },
      { cache: frozenCache(store.cache, { dataVersion: '1', ttlSeconds: 0 }) },
    );
    try {
      const query = padded('unpaid', 4_000);
      const response = await poor.post({ query, ...persisted(query) });
      expect(response.status).toBe(429);
      expect(response.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
      expect(await registeredTtl(query)).toBe(-2);
    } finally {
      await poor.close();
    }
  });
});
