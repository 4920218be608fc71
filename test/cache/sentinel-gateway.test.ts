import { setTimeout as sleep } from 'node:timers/promises';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import type { CacheFreshness } from '../../src/cache/response-cache.js';
import { describeWhereAvailable } from '../support/availability.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import {
  redisSentinelUnavailable,
  startRedisSentinel,
  type RedisAddress,
  type RedisSentinel,
  type RedisSentinelOptions,
} from '../support/redis-sentinel.js';
import { dashboard, insertSale, sha256, type Dashboard } from './cache-fixtures.js';
import { uniquePrefix } from '../support/gateway-with-cache.js';

// Two gateway processes, started the production way, on Redis found through a Sentinel: the cache, persisted
// queries and rate budgets they share live on the master, and a failover costs them caching for a few
// seconds, never an answer.

const noDatabase = inject('databaseUrl') ? undefined : 'no real PostgreSQL for the gateway process';

interface Answer<T = Dashboard> {
  status: number;
  headers: Headers;
  body: {
    data?: T | null;
    errors?: { message: string; extensions?: { code?: string } }[];
    extensions?: { cache?: CacheFreshness };
  };
  /** When the request was sent, and how long it took (ms, performance.now()). */
  at: number;
  ms: number;
}

async function post<T = Dashboard>(gateway: GatewayProcess, payload: object): Promise<Answer<T>> {
  const at = performance.now();
  const response = await fetch(`${gateway.base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });
  const body = (await response.json()) as Answer<T>['body'];
  return { status: response.status, headers: response.headers, body, at, ms: performance.now() - at };
}

async function readiness(gateway: GatewayProcess): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${gateway.base}/readyz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Asks until the answer is a cache hit; fails after `withinMs`. */
async function askUntilHit(gateway: GatewayProcess, payload: object, withinMs: number): Promise<Answer> {
  const deadline = performance.now() + withinMs;
  for (;;) {
    const answer = await post(gateway, payload);
    if (answer.body.extensions?.cache?.hit) return answer;
    if (performance.now() > deadline)
      throw new Error(`no cache hit within ${withinMs} ms: ${JSON.stringify(answer.body)}`);
    await sleep(50);
  }
}

/** The keys under `prefix` on one data node, connected to with `options` (password, database, TLS). */
async function keysOn(node: RedisAddress, prefix: string, options: RedisOptions): Promise<string[]> {
  const client = new Redis({
    ...node,
    ...options,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    return keys;
  } finally {
    client.disconnect();
  }
}

const SALE = { totalRevenue: '20.00', totalTransactions: 1 };

interface Setup {
  name: string;
  harness: RedisSentinelOptions;
  /** How the keys check connects to a data node. */
  nodeOptions: (harness: RedisSentinel) => RedisOptions;
  /** Runs once the harness is up: ACL users, for example. */
  prepare?: (harness: RedisSentinel) => Promise<void>;
  /** The Redis variables of gateways A and B. */
  env: (harness: RedisSentinel) => [Record<string, string>, Record<string, string>];
  /** Secrets that must not appear in the gateways' output. */
  secrets: string[];
}

const sentinelList = (harness: RedisSentinel) => harness.sentinels.map((s) => `${s.host}:${s.port}`).join(',');

const DATA_PASSWORD = 'data-s3cret';
const SENTINEL_PASSWORD = 'sentinel-s3cret';
const APP_USER = 'marketpulse';
const APP_PASSWORD = 'app-user-s3cret';
const SENTINEL_USER = 'marketpulse-sentinel';
const SENTINEL_USER_PASSWORD = 'sentinel-user-s3cret';

/** The data nodes, master and replicas, as the Sentinel lists them. */
async function dataNodes(harness: RedisSentinel): Promise<RedisAddress[]> {
  const replicas = (await harness.command(
    harness.sentinels[0]!,
    'SENTINEL',
    'REPLICAS',
    harness.masterName,
  )) as string[][];
  const addresses = replicas.map((flat) => {
    const fields = Object.fromEntries(flat.flatMap((value, i) => (i % 2 === 0 ? [[value, flat[i + 1]]] : [])));
    return { host: String(fields.ip), port: Number(fields.port) };
  });
  return [await harness.currentMaster(), ...addresses];
}

const setups: Setup[] = [
  {
    name: 'without passwords',
    harness: {},
    nodeOptions: () => ({}),
    env: (harness) => {
      const env = { REDIS_SENTINELS: sentinelList(harness), REDIS_SENTINEL_NAME: harness.masterName };
      return [env, env];
    },
    secrets: [],
  },
  {
    name: 'behind passwords, an ACL user on each side and database 3',
    harness: { password: DATA_PASSWORD, sentinelPassword: SENTINEL_PASSWORD },
    nodeOptions: () => ({ password: DATA_PASSWORD, db: 3 }),
    async prepare(harness) {
      // ACL users are not replicated: every node gets its own.
      for (const node of await dataNodes(harness)) {
        await harness.command(node, 'ACL', 'SETUSER', APP_USER, 'on', `>${APP_PASSWORD}`, '~*', '&*', '+@all');
      }
      await harness.command(
        harness.sentinels[0]!,
        'ACL',
        'SETUSER',
        SENTINEL_USER,
        'on',
        `>${SENTINEL_USER_PASSWORD}`,
        '+@all',
      );
    },
    env: (harness) => {
      const common = { REDIS_SENTINELS: sentinelList(harness), REDIS_SENTINEL_NAME: harness.masterName, REDIS_DB: '3' };
      return [
        // The default users, by their requirepass.
        { ...common, REDIS_PASSWORD: DATA_PASSWORD, REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD },
        // ACL users on the data nodes and on the Sentinel.
        {
          ...common,
          REDIS_USERNAME: APP_USER,
          REDIS_PASSWORD: APP_PASSWORD,
          REDIS_SENTINEL_USERNAME: SENTINEL_USER,
          REDIS_SENTINEL_PASSWORD: SENTINEL_USER_PASSWORD,
        },
      ];
    },
    secrets: [DATA_PASSWORD, SENTINEL_PASSWORD, APP_PASSWORD, SENTINEL_USER_PASSWORD],
  },
  {
    name: 'over TLS only, to the Sentinel and the data nodes',
    harness: { tls: true },
    nodeOptions: (harness) => ({ tls: { ca: harness.tls!.ca } }),
    env: (harness) => {
      // The harness's certificate is self-signed: the gateway trusts it the way an operator adds a private CA.
      const env = {
        REDIS_SENTINELS: sentinelList(harness),
        REDIS_SENTINEL_NAME: harness.masterName,
        REDIS_TLS: 'true',
        NODE_EXTRA_CA_CERTS: harness.tls!.caFile,
      };
      return [env, env];
    },
    secrets: [],
  },
];

for (const setup of setups) {
  describeWhereAvailable(redisSentinelUnavailable(setup.harness) ?? noDatabase)(
    `gateways on Redis through a Sentinel, ${setup.name}`,
    () => {
      const prefix = uniquePrefix('sentinel-gateway');
      let database: TestDatabase;
      let harness: RedisSentinel;
      let a: GatewayProcess;
      let b: GatewayProcess;

      beforeAll(async () => {
        database = await createTestDatabase();
        await insertSale(database.handle, SALE.totalRevenue);
        harness = await startRedisSentinel(setup.harness);
        await setup.prepare?.(harness);
        const [envA, envB] = setup.env(harness);
        const common = {
          DATABASE_URL: database.url!,
          NODE_ENV: 'production',
          CACHE_KEY_PREFIX: prefix,
          CACHE_TTL_SECONDS: '600',
          // A budget no test spends, in a window longer than the file.
          RATE_LIMIT_POINTS: '1000000',
          RATE_LIMIT_WINDOW_SECONDS: '3600',
          // Above the default of 100 ms, so that a command slowed by a loaded machine is not taken for an outage.
          REDIS_COMMAND_TIMEOUT_MS: '300',
        };
        [a, b] = await Promise.all([
          startGatewayProcess({ ...common, ...envA }),
          startGatewayProcess({ ...common, ...envB }),
        ]);
      });

      afterAll(async () => {
        await Promise.all([a?.kill(), b?.kill()]);
        await harness?.stop();
        await database?.drop();
      });

      it('answers a repeated query from the cache on the master, for both gateways, and reports the cache up', async () => {
        const query = dashboard({ limit: 1 });
        const first = await post(a, query);
        expect(first.status).toBe(200);
        expect(first.body.data?.dashboard).toMatchObject(SALE);
        const hit = await askUntilHit(a, query, 5_000);
        expect(hit.headers.get('x-cache')).toBe('HIT');
        expect(hit.body.data?.dashboard).toMatchObject(SALE);
        // B never computed this answer: its hit comes from Redis.
        const fromB = await askUntilHit(b, query, 5_000);
        expect(fromB.body.data).toEqual(first.body.data);
        expect(
          (await keysOn(await harness.currentMaster(), `${prefix}fqc:`, setup.nodeOptions(harness))).length,
        ).toBeGreaterThan(0);
        for (const gateway of [a, b]) {
          expect(await readiness(gateway)).toEqual({
            status: 200,
            body: { status: 'ready', database: 'up', migrations: 'current', cache: 'up' },
          });
        }
      });

      it('draws both gateways from one rate budget kept on the master', async () => {
        const query = { query: '{ dashboard { totalTransactions } }' };
        const remaining = async (gateway: GatewayProcess) => {
          const answer = await post(gateway, query);
          expect(answer.status).toBe(200);
          return Number(answer.headers.get('ratelimit-remaining'));
        };
        const first = await remaining(a);
        const second = await remaining(b);
        const third = await remaining(a);
        // Each gateway counting on its own would give B a budget A had not touched.
        expect(second).toBeLessThan(first);
        expect(third).toBeLessThan(second);
        expect(
          (await keysOn(await harness.currentMaster(), `${prefix}rl`, setup.nodeOptions(harness))).length,
        ).toBeGreaterThan(0);
      });

      it('runs a persisted query registered at one gateway by its hash at the other', async () => {
        const query = `query Persisted${setups.indexOf(setup)} { dashboard { totalRevenue } }`;
        const byHash = { extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } } };
        const unknown = await post(b, byHash);
        expect(unknown.body.errors?.map((error) => error.extensions?.code)).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
        const registered = await post(a, { query, ...byHash });
        expect(registered.body).toMatchObject({ data: { dashboard: { totalRevenue: SALE.totalRevenue } } });
        const answered = await post(b, byHash);
        expect(answered.status).toBe(200);
        expect(answered.body.errors).toBeUndefined();
        expect(answered.body.data).toEqual({ dashboard: { totalRevenue: SALE.totalRevenue } });
        expect((await keysOn(await harness.currentMaster(), `${prefix}apq:`, setup.nodeOptions(harness))).length).toBe(
          1,
        );
      });

      it('answers every request while the master is killed, uncached until the failover, and caches again within 15 s of it', async () => {
        const query = dashboard({ limit: 2 });
        await askUntilHit(a, query, 5_000);
        await askUntilHit(b, query, 5_000);

        // A steady stream of requests, alternating between the gateways, and readiness probes beside it.
        const answers: (Answer & { gateway: 'a' | 'b' })[] = [];
        const probes: { at: number; status: number; body: Record<string, unknown> }[] = [];
        let streaming = true;
        const stream = (async () => {
          for (let i = 0; streaming; i++) {
            const gateway = i % 2 === 0 ? a : b;
            answers.push({ ...(await post(gateway, query)), gateway: i % 2 === 0 ? 'a' : 'b' });
            await sleep(20);
          }
        })();
        const probing = (async () => {
          while (streaming) {
            const at = performance.now();
            probes.push({ at, ...(await readiness(a)) });
            await sleep(100);
          }
        })();

        try {
          await sleep(500);
          const killedAt = performance.now();
          await harness.killMaster();
          const { sinceKillMs } = await harness.waitForFailover();
          const failoverAt = killedAt + sinceKillMs;
          // Caching is back once both gateways have answered from the new master.
          const hitAfter = async (gateway: 'a' | 'b') => {
            const deadline = failoverAt + 15_000;
            for (;;) {
              const hit = answers.find(
                (answer) => answer.gateway === gateway && answer.at > failoverAt && answer.body.extensions?.cache?.hit,
              );
              if (hit) return hit.at + hit.ms;
              if (performance.now() > deadline)
                throw new Error(`gateway ${gateway}: no cache hit within 15 s of the failover`);
              await sleep(50);
            }
          };
          const [backA, backB] = await Promise.all([hitAfter('a'), hitAfter('b')]);
          await sleep(500);
          streaming = false;
          await Promise.all([stream, probing]);

          // Every answer, before, during and after: 200 with the figures.
          const failed = answers.filter(
            (answer) =>
              answer.status !== 200 ||
              answer.body.errors ||
              answer.body.data?.dashboard.totalRevenue !== SALE.totalRevenue,
          );
          expect(failed).toEqual([]);
          const during = answers.filter((answer) => answer.at > killedAt && answer.at < failoverAt);
          expect(during.length).toBeGreaterThan(0);
          // With no master, nothing is cached: every answer in between was computed.
          const servedUncached = during.filter((answer) => answer.body.extensions?.cache?.hit === false);
          expect(servedUncached.length).toBeGreaterThan(0);
          // A request never waits for Redis much beyond the command timeout (300 ms here).
          const slowest = Math.max(...answers.filter((answer) => answer.at > killedAt).map((answer) => answer.ms));
          expect(slowest).toBeLessThan(1_500);
          expect(Math.max(backA, backB) - failoverAt).toBeLessThan(15_000);
          // Readiness: degraded while the cache was down, never failing.
          expect(probes.every((probe) => probe.status === 200)).toBe(true);
          expect(
            probes.some(
              (probe) => probe.at > killedAt && probe.body.status === 'degraded' && probe.body.cache === 'down',
            ),
          ).toBe(true);
          expect(await readiness(a)).toEqual({
            status: 200,
            body: { status: 'ready', database: 'up', migrations: 'current', cache: 'up' },
          });

          console.info(
            `[${setup.name}] failover ${sinceKillMs} ms after the kill; cache hits again ${Math.round(backA - failoverAt)} ms (A) and ` +
              `${Math.round(backB - failoverAt)} ms (B) after it; ${answers.length} answers, ${servedUncached.length} uncached without a master, ` +
              `slowest after the kill ${Math.round(slowest)} ms`,
          );
        } finally {
          streaming = false;
          await Promise.all([stream, probing]);
        }
      }, 60_000);

      it('shuts down cleanly on SIGTERM, its Redis clients closed', async () => {
        process.kill(b.child.pid!, 'SIGTERM');
        const code = await Promise.race([b.exited, sleep(15_000).then(() => 'still running')]);
        expect(code).toBe(0);
        expect(b.logs.map((entry) => entry.msg)).toContain('shut down cleanly');
      });

      if (setup.secrets.length > 0) {
        it('keeps its Redis passwords out of its output', () => {
          const output = [a, b]
            .map((gateway) => JSON.stringify(gateway.logs) + gateway.output.tail(64 * 1024))
            .join('\n');
          const started = b.logs.find((entry) => entry.msg === 'starting MarketPulse');
          expect(started?.config).toMatchObject({
            redis: { connection: { password: '[redacted]', sentinelPassword: '[redacted]', username: APP_USER } },
          });
          for (const secret of setup.secrets) expect(output).not.toContain(secret);
        });
      }
    },
  );
}
