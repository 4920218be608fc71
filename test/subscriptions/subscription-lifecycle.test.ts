import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import {
  DASHBOARD_TOTALS,
  Received,
  connect,
  eventually,
  insertTransaction,
  seedCatalogue,
  startLiveGateway,
  type LiveGateway,
  type TotalsMessage,
} from './subscription-fixtures.js';

// Caps on subscriptions, and sockets that end: idle ones, ones that never initialise, and all of them when the
// server closes.

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
  await seedCatalogue(database.handle);
  await insertTransaction(database.handle, { amount: '12.00', date: '2025-03-05T10:00:00Z' });
});

afterAll(async () => {
  await database?.drop();
});

const month = (n: number) => ({
  from: `2025-${String(n).padStart(2, '0')}-01`,
  to: `2025-${String(n).padStart(2, '0')}-28`,
});

describe('subscription caps', () => {
  let gateway: LiveGateway;

  beforeAll(async () => {
    gateway = await startLiveGateway(database.handle, {
      SUBSCRIPTIONS_MAX_PER_CONNECTION: 2,
      SUBSCRIPTIONS_MAX_PER_INSTANCE: 3,
    });
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it('holds the caps per connection and per instance, and frees a place when a subscription ends', async () => {
    const a = connect(gateway.url);
    const b = connect(gateway.url);
    try {
      const a1 = new Received<TotalsMessage>(a, DASHBOARD_TOTALS, month(1));
      const a2 = new Received<TotalsMessage>(a, DASHBOARD_TOTALS, month(2));
      await Promise.all([a1.waitForResults(1), a2.waitForResults(1)]);

      const a3 = new Received<TotalsMessage>(a, DASHBOARD_TOTALS, month(3));
      await a3.ended();
      expect(a3.errors?.[0]?.extensions).toMatchObject({ code: 'TOO_MANY_SUBSCRIPTIONS', max: 2 });

      const b1 = new Received<TotalsMessage>(b, DASHBOARD_TOTALS, month(4));
      await b1.waitForResults(1);
      const b2 = new Received<TotalsMessage>(b, DASHBOARD_TOTALS, month(5));
      await b2.ended();
      expect(b2.errors?.[0]?.extensions).toMatchObject({ code: 'TOO_MANY_SUBSCRIPTIONS', max: 3 });
      expect(gateway.subscriptions.stats.activeSubscriptions).toBe(3);

      // The refusals left the sockets open, and an ended subscription makes room for another.
      a1.dispose();
      await eventually(() => gateway.subscriptions.stats.activeSubscriptions === 2, 2_000, 'a1 released');
      const b3 = new Received<TotalsMessage>(b, DASHBOARD_TOTALS, month(6));
      await b3.waitForResults(1);
      expect(gateway.subscriptions.stats.activeSubscriptions).toBe(3);
      expect(gateway.subscriptions.stats.refused).toBe(2);
      // The same numbers in /metrics, for Prometheus.
      const metrics = (await gateway.app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toMatch(/^marketpulse_subscriptions_active 3$/m);
      expect(metrics).toMatch(/^marketpulse_subscription_sockets_open 2$/m);
      expect(metrics).toMatch(/^marketpulse_subscriptions_refused_total 2$/m);
      expect(metrics).toMatch(/^marketpulse_subscription_pushes_total 4$/m);
    } finally {
      await a.dispose();
      await b.dispose();
    }
    await eventually(() => gateway.subscriptions.stats.activeSubscriptions === 0, 2_000, 'all released');
    await eventually(() => gateway.subscriptions.stats.liveQueries === 0, 2_000, 'live queries forgotten');
  });
});

describe('the GraphQL path with subscriptions on', () => {
  it('still answers queries over GET and POST, and serves Sandbox', async () => {
    const gateway = await startLiveGateway(database.handle);
    try {
      const get = await gateway.app.inject({
        method: 'GET',
        url: `/graphql?query=${encodeURIComponent('{ dashboard { totalRevenue } }')}`,
        headers: { 'apollo-require-preflight': 'true' },
      });
      expect(get.statusCode).toBe(200);
      expect(get.json()).toEqual({
        data: { dashboard: { totalRevenue: '12.00' } },
        extensions: { cost: { requested: 2, maximum: 5_000 } },
      });
      const post = await gateway.request('{ dashboard { totalTransactions } }');
      expect(post.body).toEqual({
        data: { dashboard: { totalTransactions: 1 } },
        extensions: { cost: { requested: 2, maximum: 5_000 } },
      });
      const sandbox = await gateway.app.inject({ method: 'GET', url: '/graphql', headers: { accept: 'text/html' } });
      expect(sandbox.statusCode).toBe(200);
      expect(sandbox.headers['content-type']).toMatch(/text\/html/);
      // A subscription sent over HTTP is refused, not executed.
      const overHttp = await gateway.request('subscription { dashboardUpdated { totalRevenue } }');
      expect(overHttp.status).toBe(400);
      expect(overHttp.body.errors?.[0]?.extensions?.code).toBe('BAD_REQUEST');
      expect(overHttp.body.data).toBeUndefined();
    } finally {
      await gateway.close();
    }
  });
});

describe('socket clean-up', () => {
  it('closes a socket that does not initialise in time', async () => {
    const gateway = await startLiveGateway(database.handle, { SUBSCRIPTION_INIT_TIMEOUT_MS: 200 });
    try {
      const socket = new WebSocket(gateway.url, 'graphql-transport-ws');
      const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
      await new Promise((resolve) => socket.once('open', resolve));
      expect(gateway.subscriptions.stats.openSockets).toBe(1);
      expect(await closed).toBe(4408);
      await eventually(() => gateway.subscriptions.stats.openSockets === 0, 2_000, 'the socket forgotten');
    } finally {
      await gateway.close();
    }
  });

  it('closes a socket that holds no subscription for SUBSCRIPTION_IDLE_TIMEOUT_MS', async () => {
    const gateway = await startLiveGateway(database.handle, { SUBSCRIPTION_IDLE_TIMEOUT_MS: 300 });
    try {
      // A bare graphql-transport-ws peer: graphql-ws's own client closes an unused socket itself (lazy) or
      // reopens it at once (not lazy).
      const socket = new WebSocket(gateway.url, 'graphql-transport-ws');
      const messages: { type: string }[] = [];
      socket.on('message', (data) => messages.push(JSON.parse(String(data)) as { type: string }));
      let closedAt: number | undefined;
      const closed = new Promise<number>((resolve) =>
        socket.on('close', (code) => {
          closedAt = performance.now();
          resolve(code);
        }),
      );
      await new Promise((resolve) => socket.once('open', resolve));
      socket.send(JSON.stringify({ type: 'connection_init' }));
      await eventually(
        () => messages.some((message) => message.type === 'connection_ack'),
        5_000,
        'the acknowledgement',
      );
      socket.send(
        JSON.stringify({ id: '1', type: 'subscribe', payload: { query: DASHBOARD_TOTALS, variables: month(3) } }),
      );
      await eventually(() => messages.some((message) => message.type === 'next'), 5_000, 'the first result');

      // Held for twice the idle timeout while subscribed: the socket stays.
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(closedAt).toBeUndefined();

      socket.send(JSON.stringify({ id: '1', type: 'complete' }));
      const completedAt = performance.now();
      expect(await closed).toBe(1000);
      expect(closedAt! - completedAt).toBeGreaterThanOrEqual(250);
      await eventually(() => gateway.subscriptions.stats.openSockets === 0, 2_000, 'the socket forgotten');
    } finally {
      await gateway.close();
    }
  });

  it('terminates a socket that stops answering pings', async () => {
    const gateway = await startLiveGateway(database.handle, { SUBSCRIPTION_KEEPALIVE_MS: 100 });
    try {
      const socket = new WebSocket(gateway.url, 'graphql-transport-ws', { autoPong: false });
      const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
      await new Promise((resolve) => socket.once('open', resolve));
      socket.send(JSON.stringify({ type: 'connection_init' }));
      // The server cuts the connection without a close frame: the client sees 1006.
      expect(await closed).toBe(1006);
      await eventually(() => gateway.subscriptions.stats.openSockets === 0, 2_000, 'the socket forgotten');
    } finally {
      await gateway.close();
    }
  });

  it('closes every socket with 1001 when the server closes, and ends their subscriptions', async () => {
    const handles = () =>
      process.getActiveResourcesInfo().filter((kind) => kind.startsWith('TCP') || kind === 'Timeout');
    const before = handles().length;
    // A database handle of its own (PostgreSQL only), so that its pool is closed too before handles are counted.
    const own = inject('databaseUrl') ? await database.reopen() : undefined;
    const gateway = await startLiveGateway(own ?? database.handle);
    const clients = Array.from({ length: 3 }, () => connect(gateway.url));
    const subscriptions = clients.map(
      (client, i) => new Received<TotalsMessage>(client, DASHBOARD_TOTALS, month(i + 1)),
    );
    await Promise.all(subscriptions.map((received) => received.waitForResults(1)));
    expect(gateway.subscriptions.stats.openSockets).toBe(3);

    const started = performance.now();
    await gateway.close();
    const closeMs = performance.now() - started;

    for (const client of clients) expect(client.closes).toEqual([{ code: 1001, reason: 'Server is shutting down' }]);
    for (const received of subscriptions) expect(received.closeEvent?.code).toBe(1001);
    expect(gateway.subscriptions.stats.snapshot()).toMatchObject({
      openSockets: 0,
      activeSubscriptions: 0,
      liveQueries: 0,
    });
    // Clean closes, not the grace period's termination.
    expect(closeMs).toBeLessThan(2_000);
    expect(gateway.app.server.listening).toBe(false);
    await Promise.all(clients.map(async (client) => client.dispose()));
    if (own) {
      await own.close();
      // No socket, server or timer of the gateway, its listener, its pool or the clients is left behind.
      await eventually(() => handles().length <= before, 3_000, `handles back to ${before} (${handles().join(', ')})`);
    }
  });
});
