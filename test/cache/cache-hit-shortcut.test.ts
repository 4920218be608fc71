import type { KeyValueCache, KeyValueCacheSetOptions } from '@apollo/utils.keyvaluecache';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ask, dashboard, DASHBOARD, insertSale, sha256 } from './cache-fixtures.js';
import {
  startGatewayWithCache,
  uniquePrefix,
  type CachedGateway,
  type GatewayWithCache,
} from '../support/gateway-with-cache.js';

const prefix = uniquePrefix('cache-hit-shortcut');

/** A store that counts what the gateway asks of it. */
class CountingCache implements KeyValueCache<string> {
  gets = 0;
  sets = 0;

  constructor(private readonly inner: KeyValueCache<string>) {}

  get(key: string) {
    this.gets += 1;
    return this.inner.get(key);
  }

  set(key: string, value: string, options?: KeyValueCacheSetOptions) {
    this.sets += 1;
    return this.inner.set(key, value, options);
  }

  delete(key: string) {
    return this.inner.delete(key);
  }

  reset() {
    this.gets = 0;
    this.sets = 0;
  }
}

describe('answering cache hits before Apollo', () => {
  let setup: GatewayWithCache;
  let counting: CountingCache;
  let gateway: CachedGateway;

  beforeAll(async () => {
    setup = await startGatewayWithCache({
      // The shortcut reads whatever store the gateway has: Redis where there is one, else the in-process LRU.
      store: 'redis-if-any',
      prefix,
      seed: (database) => insertSale(database, '12.34', 2),
      wrapCache: (cache) => (counting = new CountingCache(cache)),
    });
    gateway = setup.gateway;
  });

  afterAll(async () => {
    await setup?.close();
  });

  it('costs one GET for a hit, and one GET and one SET for a miss', async () => {
    counting.reset();
    await ask(gateway, dashboard({ limit: 7 }));
    expect({ gets: counting.gets, sets: counting.sets }).toEqual({ gets: 1, sets: 1 });
    // Let the SET, sent in the background, land.
    await new Promise((resolve) => setTimeout(resolve, 50));

    counting.reset();
    const hit = await ask(gateway, dashboard({ limit: 7 }));
    expect(hit.cache?.hit).toBe(true);
    expect({ gets: counting.gets, sets: counting.sets }).toEqual({ gets: 1, sets: 0 });
  });

  it('answers with the same bytes and headers as Apollo does for the same hit', async () => {
    const variables = { limit: 3, from: '2025-01-01', to: '2025-12-31' };
    await ask(gateway, dashboard(variables));
    await new Promise((resolve) => setTimeout(resolve, 50));
    // POST is answered by the shortcut; GET goes through Apollo and its response-cache plugin.
    const viaShortcut = await gateway.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(dashboard(variables)),
    });
    const search = new URLSearchParams({
      query: DASHBOARD,
      operationName: 'Dashboard',
      variables: JSON.stringify(variables),
    });
    const viaApollo = await gateway.app.inject({
      method: 'GET',
      url: `/graphql?${search.toString()}`,
      headers: { 'apollo-require-preflight': 'true' },
    });
    expect(viaShortcut.headers['x-cache']).toBe('HIT');
    expect(viaApollo.headers['x-cache']).toBe('HIT');
    expect(viaShortcut.body).toBe(viaApollo.body);
    for (const header of ['content-type', 'cache-control', 'age', 'content-length']) {
      expect(viaShortcut.headers[header], header).toBe(viaApollo.headers[header]);
    }
    expect(viaShortcut.statusCode).toBe(viaApollo.statusCode);
  });

  it('negotiates the media type as Apollo does', async () => {
    const query = dashboard({ limit: 4 });
    await ask(gateway, query);
    for (const [accept, type] of [
      ['application/graphql-response+json, application/json;q=0.9', 'application/graphql-response+json; charset=utf-8'],
      ['application/json', 'application/json; charset=utf-8'],
      ['*/*', 'application/json; charset=utf-8'],
    ] as const) {
      const response = await gateway.post(query, { accept });
      expect(response.headers['x-cache'], accept).toBe('HIT');
      expect(response.headers['content-type'], accept).toBe(type);
    }
    // What Apollo refuses, it still refuses.
    const refused = await gateway.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/json', accept: 'text/html' },
      payload: JSON.stringify(query),
    });
    expect(refused.statusCode).toBe(406);
  });

  it('serves a known persisted query by its hash alone', async () => {
    const query = 'query ByHash { dashboard { totalRevenue } }';
    const persisted = { extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } } };
    await ask(gateway, { query, ...persisted });
    await new Promise((resolve) => setTimeout(resolve, 50));
    counting.reset();
    const byHash = await ask(gateway, persisted);
    expect(byHash.body.data).toEqual({ dashboard: { totalRevenue: '24.68' } });
    expect(byHash.cache?.hit).toBe(true);
    expect(counting.gets).toBe(1);
  });

  it('serves answers whose fields are aliased like the stored envelope', async () => {
    const query = {
      query: '{ data: __typename cachePolicy: dashboard { totalTransactions cacheTime: totalRevenue } }',
    };
    const miss = await ask(gateway, query);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const hit = await ask(gateway, query);
    expect(hit.cache?.hit).toBe(true);
    expect(hit.body.data).toEqual(miss.body.data);
    expect(hit.body.data).toEqual({ data: 'Query', cachePolicy: { totalTransactions: 2, cacheTime: '24.68' } });
  });

  it('leaves requests it cannot judge to Apollo', async () => {
    const query = '{ dashboard { totalTransactions } }';
    await ask(gateway, { query });
    // A hash that is not the query's: Apollo refuses it, though the query alone is cached.
    const forged = await ask(gateway, {
      query,
      extensions: { persistedQuery: { version: 1, sha256Hash: sha256('{ x }') } },
    });
    expect(forged.status).toBe(400);
    // Variables as a string: Apollo's 400, not a cache lookup.
    const stringVariables = await ask(gateway, { query, variables: '{}' });
    expect(stringVariables.status).toBe(400);
  });
});
