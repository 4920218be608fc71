import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeRedisClient } from '../../src/cache/redis-cache.js';
import type { TestSettings } from '../support/config.js';
import { authConfig, bearer, signToken } from '../auth/auth-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import {
  DASHBOARD_TOTALS,
  Received,
  connect,
  eventually,
  insertTransaction,
  seedCatalogue,
  sleep,
  startLiveGateway,
  type ConnectOptions,
  type LiveGateway,
  type TotalsMessage,
} from './subscription-fixtures.js';
import { openRateLimitRedis, removeKeys, uniquePrefix } from '../support/gateway-with-cache.js';

// Subscriptions draw on the rate budget of HTTP requests: the same budget (same Redis keys), charged 1 point for
// opening a socket, the subscription's cost plus 1 for each subscribe message, before anything runs, and the
// subscription's cost for each push.
//
// Costs with the default estimator: DASHBOARD_TOTALS is 4 (dashboardUpdated 1 + three fields), so a subscribe
// is charged 5 and a push 4; `{ dashboard { totalRevenue } }` over HTTP is 2.
const SUBSCRIBE_CHARGE = 5;
const PUSH_CHARGE = 4;
const SOCKET_CHARGE = 1;
const CHEAP = { query: '{ dashboard { totalRevenue } }' };
const MARCH = { from: '2025-03-01', to: '2025-03-31' };

let database: TestDatabase;
// Without a Redis (on a machine that has none) each gateway counts its own budget, as in production.
let redis: Redis | undefined;
const opened: LiveGateway[] = [];
const prefixes: string[] = [];
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  await seedCatalogue(database.handle);
  await insertTransaction(database.handle, { amount: '80.00', date: '2025-03-05T10:00:00Z' });
  redis = await openRateLimitRedis(500);
});

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

afterAll(async () => {
  await Promise.all(opened.map((gateway) => gateway.close()));
  for (const prefix of prefixes) await removeKeys(prefix);
  if (redis) await closeRedisClient(redis);
  await database?.drop();
});

async function gatewayWith(
  config: TestSettings & { RATE_LIMIT_POINTS: number; RATE_LIMIT_WINDOW_SECONDS: number },
): Promise<LiveGateway> {
  const prefix = uniquePrefix('subscription-rate-limit');
  prefixes.push(prefix);
  const gateway = await startLiveGateway(
    database.handle,
    { ...config, CACHE_KEY_PREFIX: prefix },
    redis ? { rateLimitRedis: redis } : {},
  );
  opened.push(gateway);
  return gateway;
}

function client(gateway: LiveGateway, connectionParams?: Record<string, unknown>, options?: ConnectOptions) {
  const opened = connect(gateway.url, connectionParams, options);
  cleanups.push(() => void opened.dispose());
  return opened;
}

describe('the rate budget of subscriptions', () => {
  it('charges a subscription its cost plus 1 from the budget HTTP requests draw on, and each push its cost', async () => {
    const gateway = await gatewayWith({ ...authConfig, RATE_LIMIT_POINTS: 100, RATE_LIMIT_WINDOW_SECONDS: 60 });
    const token = await signToken({ role: 'viewer', subject: 'dana' });
    const socket = client(gateway, { authorization: `Bearer ${token}` });
    const live = new Received<TotalsMessage>(socket, DASHBOARD_TOTALS, MARCH);
    await live.waitForResults(1);

    const afterSubscribe = await gateway.post(CHEAP, bearer(token));
    expect(afterSubscribe.status).toBe(200);
    expect(afterSubscribe.headers['ratelimit-remaining']).toBe(String(100 - SOCKET_CHARGE - SUBSCRIBE_CHARGE - 2));

    // A push is a fresh result, computed for the subscriber: it costs what the subscription costs.
    await insertTransaction(database.handle, { amount: '20.00', date: '2025-03-06T10:00:00Z' });
    await live.waitForResults(2);
    expect(live.last!.dashboardUpdated.totalRevenue).toBe('100.00');
    const afterPush = await gateway.post(CHEAP, bearer(token));
    expect(afterPush.headers['ratelimit-remaining']).toBe(
      String(100 - SOCKET_CHARGE - SUBSCRIBE_CHARGE - 2 - PUSH_CHARGE - 2),
    );

    // Another subject's budget is its own.
    const other = await gateway.post(CHEAP, bearer(await signToken({ role: 'viewer', subject: 'eli' })));
    expect(other.headers['ratelimit-remaining']).toBe('98');
  });

  it('refuses a subscribe past the budget with RATE_LIMITED, keeps the socket open, and serves it again after the window', async () => {
    // Room for the socket (1 point) and two subscriptions (10 points) and not a third. The window is long enough
    // for a busy machine to make the three subscribe messages within it.
    const gateway = await gatewayWith({ RATE_LIMIT_POINTS: 13, RATE_LIMIT_WINDOW_SECONDS: 5 });
    const socket = client(gateway);
    const first = new Received<TotalsMessage>(socket, DASHBOARD_TOTALS, MARCH);
    await first.waitForResults(1);
    const second = new Received<TotalsMessage>(socket, DASHBOARD_TOTALS, { from: '2025-03-02', to: '2025-03-31' });
    await second.waitForResults(1);

    const refused = new Received<TotalsMessage>(socket, DASHBOARD_TOTALS, { from: '2025-03-03', to: '2025-03-31' });
    await refused.ended();
    expect(refused.results).toEqual([]);
    expect(refused.errors).toHaveLength(1);
    const extensions = refused.errors![0]!.extensions!;
    expect(extensions.code).toBe('RATE_LIMITED');
    expect(extensions).not.toHaveProperty('http');
    const retryAfterSeconds = extensions.retryAfterSeconds as number;
    expect(retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(retryAfterSeconds).toBeLessThanOrEqual(5);
    expect(socket.closes).toEqual([]);
    expect(gateway.subscriptions.stats.activeSubscriptions).toBe(2);

    // Nobody is authenticated: HTTP requests from the same address spend the same budget, now spent.
    expect((await gateway.post(CHEAP)).status).toBe(429);

    await sleep(retryAfterSeconds * 1_000 + 200);
    const later = new Received<TotalsMessage>(socket, DASHBOARD_TOTALS, { from: '2025-03-03', to: '2025-03-31' });
    await later.waitForResults(1);
    expect(later.last!.dashboardUpdated.totalTransactions).toBeGreaterThan(0);
    expect(socket.closes).toEqual([]);
  });

  it('ends a subscription whose push its budget cannot pay with RATE_LIMITED, and keeps the socket open', async () => {
    // Room for the socket, the subscription and one push; the second push is past the budget.
    const gateway = await gatewayWith({
      ...authConfig,
      RATE_LIMIT_POINTS: SOCKET_CHARGE + SUBSCRIBE_CHARGE + PUSH_CHARGE,
      RATE_LIMIT_WINDOW_SECONDS: 60,
    });
    const token = await signToken({ role: 'viewer', subject: 'wall-display' });
    const socket = client(gateway, { authorization: `Bearer ${token}` });
    const live = new Received<TotalsMessage>(socket, DASHBOARD_TOTALS, { from: '2025-03-01', to: '2025-03-30' });
    await live.waitForResults(1);

    await insertTransaction(database.handle, { amount: '1.00', date: '2025-03-07T10:00:00Z' });
    await live.waitForResults(2);
    await insertTransaction(database.handle, { amount: '2.00', date: '2025-03-08T10:00:00Z' });
    await live.ended();

    expect(live.results).toHaveLength(2);
    expect(live.errors).toHaveLength(1);
    const extensions = live.errors![0]!.extensions!;
    expect(extensions.code).toBe('RATE_LIMITED');
    expect(extensions.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(extensions).not.toHaveProperty('http');
    expect(live.errors![0]!.message).toMatch(/subscription has ended/);
    // The subscription ended and gave its place back; the socket is still open.
    await eventually(() => gateway.subscriptions.stats.activeSubscriptions === 0, 2_000, 'the place released');
    expect(socket.closes).toEqual([]);
    expect(gateway.subscriptions.stats.openSockets).toBe(1);
  });

  it('charges an anonymous subscriber by the client address of its upgrade request, X-Forwarded-For included behind a proxy', async () => {
    const gateway = await gatewayWith({ RATE_LIMIT_POINTS: 100, RATE_LIMIT_WINDOW_SECONDS: 60, TRUST_PROXY: true });
    const socket = client(gateway, undefined, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    const live = new Received<TotalsMessage>(socket, DASHBOARD_TOTALS, MARCH);
    await live.waitForResults(1);

    const sameClient = await gateway.post(CHEAP, { 'x-forwarded-for': '203.0.113.7' });
    expect(sameClient.headers['ratelimit-remaining']).toBe(String(100 - SOCKET_CHARGE - SUBSCRIBE_CHARGE - 2));
    const anotherClient = await gateway.post(CHEAP, { 'x-forwarded-for': '198.51.100.9' });
    expect(anotherClient.headers['ratelimit-remaining']).toBe('98');
  });

  it('charges 1 point for a subscribe message refused by the query limits, as HTTP does for a request', async () => {
    const gateway = await gatewayWith({ RATE_LIMIT_POINTS: 100, RATE_LIMIT_WINDOW_SECONDS: 60 });
    const socket = client(gateway);
    const invalid = new Received<TotalsMessage>(socket, 'subscription { dashboardUpdated { totalRevenu } }');
    await invalid.ended();
    expect(invalid.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    await eventually(() => gateway.subscriptions.stats.refused === 1, 2_000, 'the refusal counted');
    expect((await gateway.post(CHEAP)).headers['ratelimit-remaining']).toBe(String(100 - SOCKET_CHARGE - 1 - 2));
  });

  it('charges 1 point for opening a socket, and closes one opened past the budget with 4429', async () => {
    // Two sockets with a subscription each spend 2 × (1 + 5) = 12 points, the whole budget.
    const gateway = await gatewayWith({ ...authConfig, RATE_LIMIT_POINTS: 12, RATE_LIMIT_WINDOW_SECONDS: 60 });
    const token = await signToken({ role: 'viewer', subject: 'opener' });
    for (const from of ['2025-03-01', '2025-03-02']) {
      const socket = client(gateway, { authorization: `Bearer ${token}` });
      await new Received<TotalsMessage>(socket, DASHBOARD_TOTALS, { from, to: '2025-03-31' }).waitForResults(1);
    }
    const refused = client(gateway, { authorization: `Bearer ${token}` });
    await eventually(() => refused.closes.length > 0, 5_000, 'the third socket closed');
    expect(refused.closes[0]!.code).toBe(4429);
    expect(refused.closes[0]!.reason).toMatch(/Rate limit/);
    expect(gateway.subscriptions.stats.activeSubscriptions).toBe(2);
  });
});
