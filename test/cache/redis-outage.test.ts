import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { has } from '../support/requirements.js';
import { closedPort, TcpProxy } from '../support/tcp-proxy.js';
import { ask, dashboard, insertSale, pollUntil, sha256 } from './cache-fixtures.js';
import {
  redisUrl,
  startGatewayWithCache,
  uniquePrefix,
  waitForRedis,
  type CachedGateway,
  type GatewayWithCache,
} from '../support/gateway-with-cache.js';

const prefix = uniquePrefix('redis-outage');
const QUERY = dashboard({ limit: 2 });
// A request must never wait on Redis for much longer than the command timeout (100 ms here).
const BOUND_MS = 500;

/** Logs that a test can count: an outage must not write a line per request. */
function countingLogger() {
  const lines: string[] = [];
  return {
    lines,
    info: (_: object, message: string) => lines.push(message),
    warn: (_: object, message: string) => lines.push(message),
  };
}

async function expectServedUncached(gateway: CachedGateway, times: number) {
  for (let i = 0; i < times; i++) {
    const answer = await ask(gateway, QUERY);
    expect(answer.status).toBe(200);
    expect(answer.body.errors).toBeUndefined();
    expect(answer.body.data?.dashboard.totalRevenue).toBe('20.00');
    expect(answer.cache?.hit).toBe(false);
    expect(answer.ms).toBeLessThan(BOUND_MS);
  }
}

describe('with Redis unreachable', () => {
  let setup: GatewayWithCache;
  let gateway: CachedGateway;
  const logger = countingLogger();

  beforeAll(async () => {
    setup = await startGatewayWithCache({
      store: 'redis',
      prefix: `${prefix}closed:`,
      seed: (database) => insertSale(database, '20.00'),
      storeOptions: {
        url: `redis://127.0.0.1:${await closedPort()}`,
        commandTimeoutMs: 100,
        logger,
        awaitConnection: false,
      },
    });
    gateway = setup.gateway;
  });

  afterAll(async () => {
    await setup?.close();
  });

  it('serves every request uncached, each within a bounded time', async () => {
    await expectServedUncached(gateway, 20);
  });

  it('logs the outage without a line per request', () => {
    expect(logger.lines.length).toBeGreaterThan(0);
    expect(logger.lines.length).toBeLessThan(10);
  });

  it('still runs automatic persisted queries, from the local copy', async () => {
    const query = 'query Outage { dashboard { totalTransactions } }';
    const persisted = { extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } } };
    const unknown = await ask(gateway, persisted);
    expect(unknown.body.errors?.map((e) => e.extensions?.code)).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    expect(unknown.ms).toBeLessThan(BOUND_MS);
    expect((await ask(gateway, { query, ...persisted })).body.data).toEqual({ dashboard: { totalTransactions: 1 } });
    const byHash = await ask(gateway, persisted);
    expect(byHash.body.data).toEqual({ dashboard: { totalTransactions: 1 } });
    expect(byHash.ms).toBeLessThan(BOUND_MS);
  });
});

describe.runIf(has('redis', 'Redis going away mid-run and coming back'))(
  'when Redis goes away mid-run and comes back',
  () => {
    let proxy: TcpProxy;
    let setup: GatewayWithCache;
    let gateway: CachedGateway;

    beforeAll(async () => {
      await waitForRedis();
      proxy = new TcpProxy(redisUrl);
      await proxy.start('forward');
      setup = await startGatewayWithCache({
        store: 'redis',
        prefix: `${prefix}proxied:`,
        seed: (database) => insertSale(database, '20.00'),
        storeOptions: { url: proxy.url, commandTimeoutMs: 100 },
      });
      gateway = setup.gateway;
    });

    afterAll(async () => {
      await setup?.close();
      await proxy?.stop();
    });

    async function expectCachedAgain() {
      // The client reconnects with a backoff of at most two seconds; then the cache is used again.
      const { answer } = await pollUntil(
        () => ask(gateway, QUERY),
        (a) => a.cache?.hit === true,
        5_000,
      );
      expect(answer.cache?.hit).toBe(true);
      expect(answer.body.data?.dashboard.totalRevenue).toBe('20.00');
    }

    it('is cached while Redis answers', async () => {
      await pollUntil(
        () => ask(gateway, QUERY),
        (a) => a.cache?.hit === true,
        2_000,
      );
      expect((await ask(gateway, QUERY)).cache?.hit).toBe(true);
    });

    async function readiness() {
      const response = await gateway.app.inject({ method: 'GET', url: '/readyz' });
      return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
    }

    it('serves uncached within a bounded time while Redis is down, and uses the cache again once it is back', async () => {
      expect(await readiness()).toEqual({
        status: 200,
        body: { status: 'ready', database: 'up', migrations: 'current', cache: 'up' },
      });
      await proxy.stop();
      await expectServedUncached(gateway, 10);
      // Degraded, not unready: the load balancer keeps sending traffic, which is answered uncached.
      expect(await readiness()).toEqual({
        status: 200,
        body: { status: 'degraded', database: 'up', migrations: 'current', cache: 'down' },
      });
      await proxy.start('forward');
      await expectCachedAgain();
      expect(await readiness()).toEqual({
        status: 200,
        body: { status: 'ready', database: 'up', migrations: 'current', cache: 'up' },
      });
    });

    it('serves uncached within a bounded time while Redis stalls, and uses the cache again once it answers', async () => {
      proxy.setMode('stall');
      await expectServedUncached(gateway, 10);
      proxy.setMode('forward');
      await expectCachedAgain();
    });
  },
);
