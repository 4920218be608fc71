import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRedisClient, createRedisClient } from '../../src/cache/redis-cache.js';
import { authConfig, bearer, signToken } from '../auth/auth-fixtures.js';
import { insertSale } from '../cache/cache-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { has } from '../support/requirements.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { openRateLimitRedis, removeKeys, silentLogger, uniquePrefix } from '../support/gateway-with-cache.js';

// Costs with the default estimator: `{ dashboard { totalRevenue } }` is 2 (dashboard 1 + totalRevenue 1);
// `{ products(first: 10) { edges { node { name } } } }` is 1 + 10 × 3 = 31.
const CHEAP = { query: '{ dashboard { totalRevenue } }' };
const COSTLY = { query: '{ products(first: 10) { edges { node { name } } } }' };

let database: TestDatabase;
const opened: { close(): Promise<void> }[] = [];
const clients: Redis[] = [];
const prefixes: string[] = [];

/** A client of the Redis under test, or of `url`; none when there is no Redis, and budgets are counted in process. */
function redisClient(): Promise<Redis | undefined>;
function redisClient(url: string): Promise<Redis>;
async function redisClient(url?: string): Promise<Redis | undefined> {
  // A client of a Redis that is not there is handed over at once: it never becomes ready.
  const client = url
    ? createRedisClient(url, { commandTimeoutMs: 200, logger: silentLogger })
    : await openRateLimitRedis(200);
  if (client) clients.push(client);
  return client;
}

async function gatewayWith(
  config: { points: number; windowSeconds: number; prefix: string; auth?: boolean },
  redis?: Redis,
): Promise<TestGateway> {
  const gateway = await startTestGateway(
    database.handle,
    {
      ...(config.auth ? authConfig : {}),
      RATE_LIMIT_POINTS: config.points,
      RATE_LIMIT_WINDOW_SECONDS: config.windowSeconds,
      CACHE_KEY_PREFIX: config.prefix,
    },
    redis ? { rateLimitRedis: redis } : {},
    { overHttp: true },
  );
  opened.push(gateway);
  return gateway;
}

function newPrefix(): string {
  const prefix = uniquePrefix('rate-limit');
  prefixes.push(prefix);
  return prefix;
}

beforeAll(async () => {
  database = await createTestDatabase();
  await insertSale(database.handle, '12.50', 3);
});

afterAll(async () => {
  await Promise.all(opened.map((gateway) => gateway.close()));
  for (const prefix of prefixes) await removeKeys(prefix);
  await Promise.all(clients.map((client) => closeRedisClient(client)));
  await database?.drop();
});

describe('rate limiting', () => {
  it('answers 429 RATE_LIMITED with Retry-After once the budget is spent, and serves again after the window', async () => {
    const redis = await redisClient();
    const gateway = await gatewayWith({ points: 10, windowSeconds: 2, prefix: newPrefix() }, redis);

    const first = await gateway.post(CHEAP);
    expect(first.status).toBe(200);
    expect(first.headers['ratelimit-limit']).toBe('10');
    expect(first.headers['ratelimit-remaining']).toBe('8');
    expect(first.headers['ratelimit-policy']).toBe('10;w=2');
    expect(Number(first.headers['ratelimit-reset'])).toBeGreaterThanOrEqual(1);

    const statuses: number[] = [];
    let limited: Awaited<ReturnType<TestGateway['post']>> | undefined;
    for (let i = 0; i < 10 && !limited; i++) {
      const answer = await gateway.post(CHEAP);
      statuses.push(answer.status);
      if (answer.status === 429) limited = answer;
    }
    // 2 points each: 8 left after the first, so four more are answered and the fifth is refused.
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
    expect(limited!.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(limited!.body.data ?? undefined).toBeUndefined();
    const retryAfter = Number(limited!.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(2);
    expect(limited!.headers['ratelimit-remaining']).toBe('0');

    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1_000 + 100));
    const recovered = await gateway.post(CHEAP);
    expect(recovered.status).toBe(200);
    expect(recovered.body.errors).toBeUndefined();
  });

  it('charges each request its query cost, and refuses a request that costs more than is left without running it', async () => {
    const gateway = await gatewayWith({ points: 40, windowSeconds: 60, prefix: newPrefix() }, await redisClient());
    const costly = await gateway.post(COSTLY);
    expect(costly.status).toBe(200);
    expect(costly.headers['x-query-cost']).toBe('31');
    expect(costly.headers['ratelimit-remaining']).toBe('9');

    const again = await gateway.post(COSTLY);
    expect(again.status).toBe(429);
    expect(again.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(again.body.data ?? undefined).toBeUndefined();
    expect(Number(again.headers['retry-after'])).toBeGreaterThan(0);
  });

  it.runIf(has('redis', 'one budget shared by gateways on the same Redis'))(
    'keeps one budget per principal, shared by every gateway on the same Redis',
    async () => {
      const prefix = newPrefix();
      const one = await gatewayWith({ points: 6, windowSeconds: 60, prefix, auth: true }, await redisClient());
      const two = await gatewayWith({ points: 6, windowSeconds: 60, prefix, auth: true }, await redisClient());
      const dana = bearer(await signToken({ role: 'viewer', subject: 'dana' }));
      const eli = bearer(await signToken({ role: 'viewer', subject: 'eli' }));

      expect((await one.post(CHEAP, dana)).headers['ratelimit-remaining']).toBe('4');
      expect((await two.post(CHEAP, dana)).headers['ratelimit-remaining']).toBe('2');
      expect((await one.post(CHEAP, dana)).headers['ratelimit-remaining']).toBe('0');
      expect((await two.post(CHEAP, dana)).status).toBe(429);
      // Another subject has a budget of its own.
      const other = await two.post(CHEAP, eli);
      expect(other.status).toBe(200);
      expect(other.headers['ratelimit-remaining']).toBe('4');
    },
  );

  it('spends nobody’s budget on a request turned away with 401', async () => {
    const gateway = await gatewayWith(
      { points: 4, windowSeconds: 60, prefix: newPrefix(), auth: true },
      await redisClient(),
    );
    for (let i = 0; i < 5; i++) expect((await gateway.post(CHEAP)).status).toBe(401);
    const valid = await gateway.post(CHEAP, bearer(await signToken({ role: 'viewer' })));
    expect(valid.status).toBe(200);
  });

  it('counts in the process when Redis does not answer', async () => {
    // Nothing listens on port 1: every Redis command fails at once and the local limiter counts instead.
    const dead = await redisClient('redis://127.0.0.1:1');
    const gateway = await gatewayWith({ points: 4, windowSeconds: 60, prefix: newPrefix() }, dead);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await gateway.post(CHEAP)).status);
    expect(statuses).toEqual([200, 200, 429]);
  });
});
