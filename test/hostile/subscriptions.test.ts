import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApiKey } from '../../src/auth/api-key.repository.js';
import { nestedDeeperThan } from '../../src/limits/nesting.js';
import { stableJson } from '../../src/graphql/stable-json.js';
import type { DatabaseHandle } from '../../src/db/database-handle.js';
import type { TestSettings } from '../support/config.js';
import { authConfig, bearer, signToken } from '../auth/auth-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import {
  DASHBOARD_TOTALS,
  RawSocket,
  Received,
  UpgradeRefused,
  connect,
  eventually,
  insertTransaction,
  seedCatalogue,
  sleep,
  startLiveGateway,
  type LiveGateway,
  type ServerMessage,
  type TotalsMessage,
} from '../subscriptions/subscription-fixtures.js';
import { openStore, startCachedGateway, uniquePrefix } from '../support/gateway-with-cache.js';

// What a hostile client can do to the WebSocket side (and, for nested variables, to HTTP): every attempt is
// refused with a code, and none of them takes places, pool connections or a socket away from anybody else.

const MARCH = { from: '2025-03-01', to: '2025-03-31' };

let database: TestDatabase;
const opened: LiveGateway[] = [];
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  await seedCatalogue(database.handle);
  await insertTransaction(database.handle, { amount: '80.00', date: '2025-03-05T10:00:00Z' });
});

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

afterAll(async () => {
  await Promise.all(opened.map((gateway) => gateway.close()));
  await database?.drop();
});

async function gatewayWith(config: TestSettings = {}, handle: DatabaseHandle = database.handle): Promise<LiveGateway> {
  const gateway = await startLiveGateway(handle, config);
  opened.push(gateway);
  return gateway;
}

async function rawSocket(gateway: LiveGateway, options: Parameters<typeof RawSocket.open>[1] = {}): Promise<RawSocket> {
  const socket = await RawSocket.open(gateway.url, options);
  cleanups.push(() => socket.close());
  return socket;
}

/** JSON text of an object nested `levels` deep: no JSON.stringify can write it, a client can send it. */
const nested = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;

const subscribeText = (id: string, variablesText: string, query = DASHBOARD_TOTALS) =>
  `{"id":"${id}","type":"subscribe","payload":{"query":${JSON.stringify(query)},"variables":${variablesText}}}`;

const errorCodes = (message: ServerMessage | undefined) =>
  ((message?.payload ?? []) as { extensions?: { code?: string } }[]).map((error) => error.extensions?.code);

describe('keys built from what a client sent', () => {
  it('serialise any JSON value as JSON.stringify does, whatever the order of its keys', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = stableJson(value);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
        // The same members in reverse order name the same key.
        const reversed = JSON.parse(JSON.stringify(value), (_key, inner: unknown) =>
          inner && typeof inner === 'object' && !Array.isArray(inner)
            ? Object.fromEntries(Object.entries(inner).reverse())
            : inner,
        ) as unknown;
        expect(stableJson(reversed)).toBe(text);
      }),
    );
    expect(stableJson({ b: [1, { d: null, c: 'x' }], a: undefined, e: () => 1 })).toBe('{"b":[1,{"c":"x","d":null}]}');
  });

  it('serialise and measure values nested 100,000 levels deep without overflowing the stack', () => {
    const deep = JSON.parse(nested(100_000)) as unknown;
    expect(stableJson(deep)).toBe(nested(100_000));
    expect(nestedDeeperThan(deep, 32)).toBe(true);
    expect(nestedDeeperThan(JSON.parse(nested(32)), 32)).toBe(false);
    expect(nestedDeeperThan(JSON.parse(nested(33)), 32)).toBe(true);
    expect(nestedDeeperThan([[[]]], 2)).toBe(true);
    expect(nestedDeeperThan({ orderBy: { field: 'NAME', direction: 'ASC' }, from: '2025-03-01' }, 2)).toBe(false);
  });
});

describe('variables nested thousands of levels deep', () => {
  it('refuses each such subscription with BAD_USER_INPUT, keeps its socket open and leaves no place taken', async () => {
    // As many places as deep subscriptions: were any of them kept, the well-formed one at the end would be refused.
    const deepOnes = 5;
    const gateway = await gatewayWith({ SUBSCRIPTIONS_MAX_PER_INSTANCE: deepOnes });
    const sockets: RawSocket[] = [];
    for (let i = 0; i < deepOnes; i++) {
      const socket = await rawSocket(gateway);
      sockets.push(socket);
      // An undeclared variable (nothing coerces it) and a declared one, both 8,000 levels deep.
      const variables =
        i % 2 === 0 ? `{"from":"2025-03-01","to":"2025-03-31","deep":${nested(8_000)}}` : `{"from":${nested(8_000)}}`;
      socket.send(subscribeText('deep', variables));
      await socket.until(
        (messages) => messages.some((message) => message.id === 'deep'),
        5_000,
        'an answer to the deep subscription',
      );
    }
    for (const socket of sockets) {
      const [answer] = socket.about('deep');
      expect(answer?.type).toBe('error');
      expect(errorCodes(answer)).toEqual(['BAD_USER_INPUT']);
      expect(socket.closed).toBeUndefined();
    }
    expect(gateway.subscriptions.stats.activeSubscriptions).toBe(0);
    const metrics = (await gateway.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/^marketpulse_subscriptions_active 0$/m);

    const client = connect(gateway.url);
    cleanups.push(() => void client.dispose());
    const wellFormed = new Received<TotalsMessage>(client, DASHBOARD_TOTALS, MARCH);
    await wellFormed.waitForResults(1);
    expect(wellFormed.last!.dashboardUpdated.totalRevenue).toBe('80.00');
  });

  it('answers such a query over HTTP with BAD_USER_INPUT, 200 under application/json and 400 under application/graphql-response+json, never a 500', async () => {
    // The cache-hit shortcut builds a key from the variables before Apollo sees the request.
    const store = openStore('memory', uniquePrefix('hostile-subscriptions'));
    const gateway = await startCachedGateway(database.handle, store);
    try {
      const query = 'query Totals($from: Date) { dashboard(from: $from) { totalRevenue } }';
      const body = `{"query":${JSON.stringify(query)},"variables":{"from":"2025-03-01","deep":${nested(8_000)}}}`;
      const asked = async (accept: string) =>
        gateway.app.inject({
          method: 'POST',
          url: '/graphql',
          headers: { 'content-type': 'application/json', accept },
          payload: body,
        });

      const json = await asked('application/json');
      expect(json.statusCode).toBe(200);
      expect(json.json().errors[0].extensions.code).toBe('BAD_USER_INPUT');
      const graphqlResponse = await asked('application/graphql-response+json');
      expect(graphqlResponse.statusCode).toBe(400);
      expect(graphqlResponse.headers['content-type']).toMatch(/^application\/graphql-response\+json/);
      expect(graphqlResponse.json().errors[0].extensions.code).toBe('BAD_USER_INPUT');

      // The same variables in a GET request's query string.
      const search = new URLSearchParams({ query, variables: `{"deep":${nested(2_000)}}` });
      const viaGet = await gateway.app.inject({
        method: 'GET',
        url: `/graphql?${search.toString()}`,
        headers: { accept: 'application/json', 'apollo-require-preflight': 'true' },
      });
      expect(viaGet.statusCode).toBe(200);
      expect(viaGet.json().errors[0].extensions.code).toBe('BAD_USER_INPUT');

      // Ordinary variables are answered as before.
      const ordinary = await gateway.post<{ dashboard: { totalRevenue: string } }>({
        query,
        variables: { from: '2025-03-01' },
      });
      expect(ordinary.status).toBe(200);
      expect(ordinary.body.data?.dashboard.totalRevenue).toBe('80.00');
    } finally {
      await gateway.close();
      await store.close();
    }
  });
});

describe('made-up API keys sent over sockets', () => {
  it('count against the upgrade address like over HTTP: past API_KEY_FAILURES_PER_MINUTE the socket closes with 4429', async () => {
    const gateway = await gatewayWith({ ...authConfig, API_KEY_FAILURES_PER_MINUTE: 3 });
    const closeCodes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const socket = new WebSocket(gateway.url, 'graphql-transport-ws');
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
      const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
      socket.send(
        JSON.stringify({ type: 'connection_init', payload: { 'x-api-key': `mpk_${String(i).padStart(43, 'Q')}` } }),
      );
      closeCodes.push(await closed);
    }
    // Three lookups find nothing (4401 each); from then on the address's keys are not looked up at all.
    expect(closeCodes).toEqual([4401, 4401, 4401, 4429, 4429]);
  });
});

describe('documents padded past the size limit', () => {
  it('refuses such a subscription with QUERY_TOO_LARGE before parsing it, and keeps the socket open', async () => {
    const gateway = await gatewayWith({ QUERY_MAX_BYTES: 4_096 });
    const socket = await rawSocket(gateway);
    // Comments are not tokens: only the document's size in bytes stops this one.
    const padding = '# padding\n'.repeat(1_000);
    const query = `${padding}subscription { dashboardUpdated { totalRevenue } }`;
    socket.send(JSON.stringify({ id: 'padded', type: 'subscribe', payload: { query } }));
    await socket.until(
      (messages) => messages.some((message) => message.id === 'padded'),
      5_000,
      'an answer to the padded subscription',
    );
    const [answer] = socket.about('padded');
    expect(answer?.type).toBe('error');
    expect(errorCodes(answer)).toEqual(['QUERY_TOO_LARGE']);
    expect(socket.closed).toBeUndefined();
    expect(gateway.subscriptions.stats.activeSubscriptions).toBe(0);
  });
});

describe('one socket sending thousands of subscribe and complete messages', () => {
  // A pool (and a second handle on the database) exists on PostgreSQL only; the embedded database is one session.
  it.runIf(inject('databaseUrl'))(
    'costs no database work per message: an unrelated request is answered promptly, and no pool checkout times out',
    async () => {
      // A small pool with a short checkout wait, where a lookup per message would show at once.
      const handle = await database.reopen({ poolMax: 4, connectTimeoutMs: 2_000 });
      const gateway = await gatewayWith(
        { ...authConfig, RATE_LIMIT_POINTS: 1_000_000, RATE_LIMIT_WINDOW_SECONDS: 60 },
        handle,
      );
      const { key } = await createApiKey(database.handle.db, 'flooding-display', 'viewer');
      const admin = bearer(await signToken({ role: 'admin', subject: 'operator' }));
      const unrelated = { query: '{ dashboard { totalRevenue totalTransactions } }' };

      const flood = floodingClient(gateway.url, key, 8_000);
      let mostWaiting = 0;
      const sampler = setInterval(() => (mostWaiting = Math.max(mostWaiting, handle.poolStats!().waiting)), 2);
      try {
        await flood.reported('ready');
        // While the messages arrive and are served: the unrelated request, again and again, timed.
        const timings: number[] = [];
        while (!flood.lines.includes('next') && timings.length < 200) {
          const started = performance.now();
          const answer = await gateway.post<{ dashboard: { totalRevenue: string } }>(unrelated, admin);
          timings.push(performance.now() - started);
          expect(answer.status).toBe(200);
          expect(answer.body.data?.dashboard.totalRevenue).toBe('80.00');
          await sleep(10);
        }
        // Every message was written, and the socket still serves: its last subscription got its first result.
        await flood.reported('next');
        expect(flood.lines).toContain('sent');
        expect(flood.lines.filter((line) => line.startsWith('closed'))).toEqual([]);
        expect(Math.max(...timings)).toBeLessThan(2_000);
        expect(mostWaiting).toBeLessThan(10);
        expect(gateway.subscriptions.stats.activeSubscriptions).toBe(1);
      } finally {
        clearInterval(sampler);
        await flood.stop();
      }
      await eventually(() => gateway.subscriptions.stats.activeSubscriptions === 0, 5_000, 'every place released');
    },
  );
});

/** test/hostile/flood-socket.ts in a process of its own, and the lines it reports. */
function floodingClient(url: string, apiKey: string, count: number) {
  const script = fileURLToPath(new URL('./flood-socket.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', script, url, apiKey, String(count), DASHBOARD_TOTALS, JSON.stringify(MARCH)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines: string[] = [];
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += String(chunk);
    const complete = buffered.split('\n');
    buffered = complete.pop()!;
    lines.push(...complete);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    lines,
    reported: (line: string) =>
      eventually(() => lines.includes(line), 20_000, `the flooding client reporting "${line}"`),
    stop: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

describe('one client holding every place of a gateway', () => {
  it('refuses a client past SUBSCRIPTIONS_MAX_PER_PRINCIPAL on any of its sockets, while other clients still subscribe', async () => {
    const gateway = await gatewayWith({
      ...authConfig,
      SUBSCRIPTIONS_MAX_PER_PRINCIPAL: 3,
      SUBSCRIPTIONS_MAX_PER_CONNECTION: 2,
    });
    const { key } = await createApiKey(database.handle.db, 'greedy-service', 'viewer');
    const { key: other } = await createApiKey(database.handle.db, 'modest-service', 'viewer');
    const month = (day: number) => ({ from: `2025-03-${String(day).padStart(2, '0')}`, to: '2025-03-31' });

    const first = connect(gateway.url, { 'x-api-key': key });
    const second = connect(gateway.url, { 'x-api-key': key });
    cleanups.push(
      () => void first.dispose(),
      () => void second.dispose(),
    );
    const held = [
      new Received<TotalsMessage>(first, DASHBOARD_TOTALS, month(1)),
      new Received<TotalsMessage>(first, DASHBOARD_TOTALS, month(2)),
      new Received<TotalsMessage>(second, DASHBOARD_TOTALS, month(3)),
    ];
    await Promise.all(held.map((received) => received.waitForResults(1)));

    const oneTooMany = new Received<TotalsMessage>(second, DASHBOARD_TOTALS, month(4));
    await oneTooMany.ended();
    expect(oneTooMany.errors?.[0]?.extensions).toMatchObject({
      code: 'TOO_MANY_SUBSCRIPTIONS',
      max: 3,
      cap: 'principal',
    });
    expect(second.closes).toEqual([]);

    const modest = connect(gateway.url, { 'x-api-key': other });
    cleanups.push(() => void modest.dispose());
    await new Received<TotalsMessage>(modest, DASHBOARD_TOTALS, month(4)).waitForResults(1);
    expect(gateway.subscriptions.stats.activeSubscriptions).toBe(4);
  });

  it('counts anonymous clients by their address, X-Forwarded-For behind a trusted proxy', async () => {
    const gateway = await gatewayWith({ SUBSCRIPTIONS_MAX_PER_PRINCIPAL: 1, TRUST_PROXY: true });
    const from = (address: string) => {
      const client = connect(gateway.url, undefined, { headers: { 'x-forwarded-for': address } });
      cleanups.push(() => void client.dispose());
      return client;
    };
    const a = from('203.0.113.7');
    await new Received<TotalsMessage>(a, DASHBOARD_TOTALS, MARCH).waitForResults(1);
    const again = new Received<TotalsMessage>(from('203.0.113.7'), DASHBOARD_TOTALS, MARCH);
    await again.ended();
    expect(again.errors?.[0]?.extensions).toMatchObject({ code: 'TOO_MANY_SUBSCRIPTIONS', cap: 'principal' });
    await new Received<TotalsMessage>(from('198.51.100.9'), DASHBOARD_TOTALS, MARCH).waitForResults(1);
  });
});

describe('cross-site WebSocket', () => {
  const refusedWith = async (url: string, headers: Record<string, string>) => {
    try {
      const socket = await RawSocket.open(url, { headers });
      socket.close();
      return 101;
    } catch (error) {
      if (error instanceof UpgradeRefused) return error.status;
      throw error;
    }
  };

  it("refuses an upgrade from another site's page with 403, before any socket opens", async () => {
    const gateway = await gatewayWith({ CORS_ORIGINS: ['https://dash.example.com'] });
    for (const origin of [
      'https://evil.example',
      'null',
      'http://127.0.0.1.evil.example',
      'https://dash.example.com.evil.example',
    ]) {
      expect(await refusedWith(gateway.url, { origin })).toBe(403);
    }
    expect(gateway.subscriptions.stats.openSockets).toBe(0);
  });

  it('accepts pages of its own origin and of CORS_ORIGINS, and clients that send no Origin', async () => {
    const gateway = await gatewayWith({ CORS_ORIGINS: ['https://dash.example.com'] });
    const own = new URL(gateway.url.replace(/^ws/, 'http')).origin;
    expect(await refusedWith(gateway.url, { origin: own })).toBe(101);
    expect(await refusedWith(gateway.url, { origin: 'https://dash.example.com' })).toBe(101);
    expect(await refusedWith(gateway.url, {})).toBe(101);
    // Accepted sockets serve as ever.
    const socket = await rawSocket(gateway, { headers: { origin: own } });
    socket.send(subscribeText('own', JSON.stringify(MARCH)));
    await socket.until(
      (messages) => messages.some((message) => message.id === 'own' && message.type === 'next'),
      5_000,
      'the first result',
    );
  });

  it('takes its own origin from X-Forwarded-Host and X-Forwarded-Proto only behind a trusted proxy', async () => {
    const forwarded = { 'x-forwarded-host': 'gateway.example.com', 'x-forwarded-proto': 'https' };
    const behindProxy = await gatewayWith({ TRUST_PROXY: true });
    expect(await refusedWith(behindProxy.url, { ...forwarded, origin: 'https://gateway.example.com' })).toBe(101);
    expect(await refusedWith(behindProxy.url, { ...forwarded, origin: 'http://gateway.example.com' })).toBe(403);
    expect(await refusedWith(behindProxy.url, { ...forwarded, origin: 'https://other.example.com' })).toBe(403);

    // Without TRUST_PROXY anybody can send those headers: they decide nothing.
    const direct = await gatewayWith();
    expect(await refusedWith(direct.url, { ...forwarded, origin: 'https://gateway.example.com' })).toBe(403);
  });
});
