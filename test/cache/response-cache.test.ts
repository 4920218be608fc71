import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheStore } from '../../src/cache/cache-store.js';
import { loadPersistedDocuments } from '../../src/cache/persisted-documents.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { has } from '../support/requirements.js';
import { ask, dashboard, insertSale, sha256 } from './cache-fixtures.js';
import {
  type CachedGateway,
  countKeys,
  type GatewayWithCache,
  openRedisStore,
  openStore,
  PATIENT_MS,
  removeKeys,
  startCachedGateway,
  startGatewayWithCache,
  uniquePrefix,
} from '../support/gateway-with-cache.js';

const prefix = uniquePrefix('response-cache');

const kinds = has('redis', 'the response cache on Redis') ? (['redis', 'memory'] as const) : (['memory'] as const);

describe.each(kinds)('the response cache on %s', (kind) => {
  let setup: GatewayWithCache;
  let gateway: CachedGateway;

  beforeAll(async () => {
    setup = await startGatewayWithCache({
      store: kind,
      prefix: `${prefix}${kind}:`,
      seed: (database) => insertSale(database, '100.00', 3),
    });
    ({ gateway } = setup);
  });

  afterAll(async () => {
    await setup?.close();
  });

  it('answers a repeated dashboard query from the cache, with the same data', async () => {
    const query = dashboard({ limit: 3 });
    const first = await ask(gateway, query);
    expect(first.status).toBe(200);
    expect(first.body.errors).toBeUndefined();
    expect(first.body.data?.dashboard.totalRevenue).toBe('300.00');
    expect(first.cache).toEqual({ hit: false, ageSeconds: 0, dataVersion: gateway.changes.version });
    expect(first.headers['x-cache']).toBe('MISS');

    const second = await ask(gateway, query);
    expect(second.cache).toEqual({ hit: true, ageSeconds: 0, dataVersion: gateway.changes.version });
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.body.data).toEqual(first.body.data);
    // Answers are invalidated by events only the gateway hears: HTTP caches must not keep them.
    expect(second.headers['cache-control']).toBe('no-store');
  });

  it('keeps different variables apart', async () => {
    const all = await ask(gateway, dashboard({ limit: 1 }));
    const none = await ask(gateway, dashboard({ limit: 1, from: '2030-01-01', to: '2030-01-31' }));
    expect(all.cache?.hit).toBe(false);
    expect(none.cache?.hit).toBe(false);
    expect(all.body.data?.dashboard.totalRevenue).toBe('300.00');
    expect(none.body.data?.dashboard.totalRevenue).toBe('0.00');

    const [allAgain, noneAgain] = await Promise.all([
      ask(gateway, dashboard({ limit: 1 })),
      ask(gateway, dashboard({ limit: 1, from: '2030-01-01', to: '2030-01-31' })),
    ]);
    expect(allAgain.cache?.hit).toBe(true);
    expect(noneAgain.cache?.hit).toBe(true);
    expect(allAgain.body.data).toEqual(all.body.data);
    expect(noneAgain.body.data).toEqual(none.body.data);
  });

  it('keeps different operations in one document apart', async () => {
    const query = 'query A { dashboard { totalRevenue } } query B { dashboard { totalTransactions } }';
    const a = await ask(gateway, { query, operationName: 'A' });
    const b = await ask(gateway, { query, operationName: 'B' });
    expect(a.body.data).toEqual({ dashboard: { totalRevenue: '300.00' } });
    expect(b.body.data).toEqual({ dashboard: { totalTransactions: 3 } });
    expect(b.cache?.hit).toBe(false);
    expect((await ask(gateway, { query, operationName: 'B' })).body.data).toEqual(b.body.data);
  });

  it('never caches an error', async () => {
    const bad = dashboard({ limit: 51 });
    for (let i = 0; i < 2; i++) {
      const answer = await ask(gateway, bad);
      expect(answer.body.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
      expect(answer.cache?.hit).toBe(false);
      expect(answer.headers['x-cache']).toBe('MISS');
    }
  });

  it('reports how old a cached answer is', async () => {
    const query = dashboard({ limit: 2 });
    await ask(gateway, query);
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    const later = await ask(gateway, query);
    expect(later.cache?.hit).toBe(true);
    expect(later.cache?.ageSeconds).toBeGreaterThanOrEqual(1);
    expect(later.cache?.ageSeconds).toBeLessThanOrEqual(3);
    expect(later.headers.age).toBe(String(later.cache?.ageSeconds));
  });

  describe('automatic persisted queries', () => {
    const query = 'query PersistedDashboard { dashboard { totalTransactions } }';
    const hash = sha256(query);
    const persisted = { extensions: { persistedQuery: { version: 1, sha256Hash: hash } } };

    it('asks for the query when the hash is unknown, and runs it by hash once registered', async () => {
      const unknown = await ask(gateway, persisted);
      expect(unknown.body.errors?.map((e) => e.extensions?.code)).toEqual(['PERSISTED_QUERY_NOT_FOUND']);

      const registered = await ask(gateway, { query, ...persisted });
      expect(registered.body).toMatchObject({ data: { dashboard: { totalTransactions: 3 } } });

      const byHash = await ask(gateway, persisted);
      expect(byHash.body.errors).toBeUndefined();
      expect(byHash.body.data).toEqual({ dashboard: { totalTransactions: 3 } });
      expect(byHash.cache?.hit).toBe(true);
    });

    it('runs an operation of the persisted-documents manifest by its hash alone, with no registration', async () => {
      const manifest = loadPersistedDocuments();
      const [key, document] = [...manifest].find(([, text]) => text.includes('query Revenue('))!;
      const byHash = await ask(gateway, {
        operationName: 'Revenue',
        variables: { granularity: 'MONTH' },
        extensions: { persistedQuery: { version: 1, sha256Hash: key.replace('apq:', '') } },
      });
      expect(byHash.body.errors).toBeUndefined();
      expect(byHash.body.data).toMatchObject({ revenue: { granularity: 'MONTH', totalRevenue: '300.00' } });
      expect(sha256(document)).toBe(key.replace('apq:', ''));
    });

    it('refuses a query sent under a hash that is not its own', async () => {
      const forged = await ask(gateway, { query: '{ dashboard { totalRevenue } }', ...persisted });
      expect(forged.status).toBe(400);
      expect(forged.body.errors?.[0]?.message).toMatch(/does not match/);
    });
  });
});

describe.runIf(has('redis', 'a Redis shared by gateways'))('on a Redis shared by gateways', () => {
  let database: TestDatabase;
  let store: CacheStore;
  const keys = `${prefix}keys:`;

  beforeAll(async () => {
    database = await createTestDatabase();
    await insertSale(database.handle, '10.00', 1, '2025-03-10T23:30:00Z');
    store = await openRedisStore(keys, { commandTimeoutMs: PATIENT_MS });
  });

  afterAll(async () => {
    await store?.close();
    await database?.drop();
    await removeKeys(keys);
  });

  it('differ by report time zone, so gateways in different zones can share one Redis', async () => {
    // One database serves one zone (its rollups hold that zone's days), so the two gateways here differ in
    // their configured zone alone: what is under test is that they do not read each other's answers.
    // They share one change listener, and so one data version: the zone is all that tells their keys apart.
    const utc = await startCachedGateway(database.handle, store, { reportTimezone: 'UTC' });
    const jerusalem = await startCachedGateway(database.handle, store, {
      reportTimezone: 'Asia/Jerusalem',
      changes: utc.changes,
    });
    try {
      const query = dashboard({ from: '2025-03-10', to: '2025-03-10' });
      expect((await ask(utc, query)).body.data?.dashboard.totalTransactions).toBe(1);
      expect((await ask(utc, query)).cache?.hit).toBe(true);
      expect((await ask(jerusalem, query)).cache?.hit).toBe(false);
      expect((await ask(jerusalem, query)).cache?.hit).toBe(true);
    } finally {
      await jerusalem.close();
      await utc.close();
    }
  });

  it('keeps persisted queries in Redis under their own prefix, for every gateway', async () => {
    const query = 'query Shared { dashboard { totalTransactions } }';
    const persisted = { extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } } };
    const one = await startCachedGateway(database.handle, store);
    const two = await startCachedGateway(database.handle, store);
    try {
      expect((await ask(one, { query, ...persisted })).body.errors).toBeUndefined();
      // Apollo registers the query in the background; give the SET a moment.
      for (let tries = 0; tries < 50 && (await countKeys(`${keys}apq:${sha256(query)}`)) === 0; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(await countKeys(`${keys}apq:${sha256(query)}`)).toBe(1);
      const byHash = await ask(two, persisted);
      expect(byHash.body).toMatchObject({ data: { dashboard: { totalTransactions: 1 } } });
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('serves nothing from the cache while changes to the data may go unheard', async () => {
    let hearing = true;
    const gateway = await startCachedGateway(database.handle, store, { hearsChanges: () => hearing });
    try {
      const query = dashboard({ limit: 6 });
      await ask(gateway, query);
      expect((await ask(gateway, query)).cache?.hit).toBe(true);
      hearing = false;
      for (const payload of [query, { ...query, operationName: undefined }]) {
        const answer = await ask(gateway, payload);
        expect(answer.cache?.hit).toBe(false);
        expect(answer.body.data?.dashboard.totalTransactions).toBe(1);
      }
      hearing = true;
      expect((await ask(gateway, query)).cache?.hit).toBe(true);
    } finally {
      await gateway.close();
    }
  });

  it('caches nothing with a TTL of 0, and the answer still reports its freshness', async () => {
    const uncached = await startCachedGateway(database.handle, openStore('memory', keys), { ttlSeconds: 0 });
    try {
      const query = dashboard({ limit: 4 });
      for (let i = 0; i < 2; i++) {
        const answer = await ask(uncached, query);
        expect(answer.cache).toEqual({ hit: false, ageSeconds: 0, dataVersion: uncached.changes.version });
        expect(answer.headers['x-cache']).toBe('MISS');
      }
    } finally {
      await uncached.close();
    }
  });
});
