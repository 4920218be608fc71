import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../src/db/database-handle.js';
import { connectPostgres } from '../../src/db/postgres-connector.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway, testServerConfig, type TestGateway } from '../support/gateway.js';
import { has } from '../support/requirements.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const HEALTH_TIMEOUT_MS = testServerConfig.HEALTH_TIMEOUT_MS;
const DASHBOARD = '{ dashboard { totalTransactions } }';
// What a masked error must never reveal: hosts, ports, driver errors, SQL.
const LEAK = /127\.0\.0\.1|localhost|:\d+\b|ECONN|postgres|SELECT|FROM|v_daily_revenue|timeout exceeded/i;

function expectHealthy(response: { statusCode: number; body: string; headers: Record<string, unknown> }) {
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  expect(JSON.parse(response.body)).toEqual({ status: 'ok', database: 'up' });
}

function expectDown(response: { statusCode: number; body: string; headers: Record<string, unknown> }) {
  expect(response.statusCode).toBe(503);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  expect(JSON.parse(response.body)).toEqual({ status: 'unavailable', database: 'down' });
}

async function expectNotReady(gateway: TestGateway) {
  const response = await gateway.app.inject({ method: 'GET', url: '/readyz' });
  expect(response.statusCode).toBe(503);
  expect(JSON.parse(response.body)).toEqual({ status: 'unavailable', database: 'down' });
}

async function expectReady(gateway: TestGateway) {
  const response = await gateway.app.inject({ method: 'GET', url: '/readyz' });
  expect(response.statusCode).toBe(200);
  expect(JSON.parse(response.body)).toEqual({ status: 'ready', database: 'up', migrations: 'current' });
}

async function expectServiceUnavailable(gateway: TestGateway) {
  const { status, body } = await gateway.request<{ dashboard: { totalTransactions: number } }, never>(DASHBOARD);
  expect(body.errors?.map((e) => e.extensions?.code)).toEqual(['SERVICE_UNAVAILABLE']);
  expect(body.data ?? null).toBeNull();
  expect(status).toBe(503);
  for (const error of body.errors ?? []) {
    expect(error.message).not.toMatch(LEAK);
    expect(Object.keys(error.extensions ?? {})).toEqual(['code', 'requestId']);
  }
}

async function timed<T>(run: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await run();
  return { result, ms: performance.now() - started };
}

describe('GET /healthz', () => {
  let database: TestDatabase;
  let gateway: TestGateway;

  beforeAll(async () => {
    database = await createTestDatabase();
    gateway = await startTestGateway(database.handle);
  });

  afterAll(async () => {
    await gateway?.close();
    await database?.drop();
  });

  it('answers 200 with the database up when PostgreSQL answers', async () => {
    const response = await gateway.app.inject({ method: 'GET', url: '/healthz' });
    expectHealthy(response);
    expect(response.headers['cache-control']).toBe('no-store');
  });

  it('has /readyz report ready with the migrations current', async () => {
    await expectReady(gateway);
  });

  it('has /readyz report pending migrations as not ready', async () => {
    await sql`UPDATE kysely_migration SET name = name || '_renamed' WHERE name = '005_api_keys'`.execute(
      database.handle.db,
    );
    try {
      const response = await gateway.app.inject({ method: 'GET', url: '/readyz' });
      expect(response.statusCode).toBe(503);
      expect(JSON.parse(response.body)).toEqual({
        status: 'unavailable',
        database: 'up',
        migrations: 'pending',
        pending: ['005_api_keys'],
      });
    } finally {
      await sql`UPDATE kysely_migration SET name = '005_api_keys' WHERE name = '005_api_keys_renamed'`.execute(
        database.handle.db,
      );
    }
    await expectReady(gateway);
  });

  it('has /readyz answer 503 once shutdown has begun, while /healthz stays up', async () => {
    const stopping = await startTestGateway(database.handle);
    try {
      stopping.beginShutdown();
      const response = await stopping.app.inject({ method: 'GET', url: '/readyz' });
      expect(response.statusCode).toBe(503);
      expect(JSON.parse(response.body)).toEqual({ status: 'stopping' });
      expectHealthy(await stopping.app.inject({ method: 'GET', url: '/healthz' }));
    } finally {
      await stopping.close();
    }
  });

  it('needs neither GraphQL nor auth headers', async () => {
    const response = await gateway.app.inject({ method: 'GET', url: '/healthz', headers: { accept: '*/*' } });
    expectHealthy(response);
  });
});

describe('GET /healthz with PostgreSQL unreachable', () => {
  let handle: DatabaseHandle;
  let gateway: TestGateway;

  beforeAll(async () => {
    handle = connectPostgres('postgres://postgres@127.0.0.1:1/none', { reportTimezone: 'UTC', connectTimeoutMs: 500 });
    gateway = await startTestGateway(handle);
  });

  afterAll(async () => {
    await gateway?.close();
    await handle?.close();
  });

  it('answers 503 with the database down within the health timeout', async () => {
    const { result, ms } = await timed(() => gateway.app.inject({ method: 'GET', url: '/healthz' }));
    expectDown(result);
    expect(ms).toBeLessThan(HEALTH_TIMEOUT_MS);
  });

  it('keeps serving: a second health check answers too', async () => {
    expectDown(await gateway.app.inject({ method: 'GET', url: '/healthz' }));
    expectDown(await gateway.app.inject({ method: 'GET', url: '/healthz' }));
  });

  it('is not ready', async () => {
    await expectNotReady(gateway);
  });

  it('reports SERVICE_UNAVAILABLE to GraphQL without host names or SQL', async () => {
    await expectServiceUnavailable(gateway);
    await expectServiceUnavailable(gateway);
  });
});

// The outage is played by a TCP relay, so it needs a PostgreSQL server (the embedded PGlite has no socket).
describe.runIf(has('postgres-server', 'PostgreSQL going away behind a TCP relay'))(
  'GET /healthz when PostgreSQL goes away and comes back',
  () => {
    let database: TestDatabase;
    let proxy: TcpProxy;
    let handle: DatabaseHandle;
    let gateway: TestGateway;

    beforeAll(async () => {
      database = await createTestDatabase();
      proxy = new TcpProxy(database.url!);
      await proxy.start('forward');
      handle = connectPostgres(proxy.url, { reportTimezone: 'UTC', connectTimeoutMs: 500, poolMax: 3 });
      gateway = await startTestGateway(handle);
    });

    afterAll(async () => {
      await gateway?.close();
      await handle?.close();
      await proxy?.stop();
      await database?.drop();
    });

    it('is up, goes down and recovers on the same gateway and database handle', async () => {
      // Up: warm the pool so that there are idle connections for the outage to cut.
      expectHealthy(await gateway.app.inject({ method: 'GET', url: '/healthz' }));
      await expectReady(gateway);
      const before = await gateway.request<{ dashboard: { totalTransactions: number } }, never>(DASHBOARD);
      expect(before.body).toEqual({
        data: { dashboard: { totalTransactions: 0 } },
        extensions: { cost: { requested: 2, maximum: 5_000 } },
      });

      // Down: the server refuses connections and the pooled ones are cut.
      await proxy.stop();
      const down = await timed(() => gateway.app.inject({ method: 'GET', url: '/healthz' }));
      expectDown(down.result);
      expect(down.ms).toBeLessThan(HEALTH_TIMEOUT_MS);
      await expectServiceUnavailable(gateway);
      expectDown(await gateway.app.inject({ method: 'GET', url: '/healthz' }));
      await expectNotReady(gateway);

      // Hung: connections are accepted but nothing answers; the check still gives up before the health timeout.
      await proxy.start('blackhole');
      const hung = await timed(() => gateway.app.inject({ method: 'GET', url: '/healthz' }));
      expectDown(hung.result);
      expect(hung.ms).toBeLessThan(HEALTH_TIMEOUT_MS + 250);
      await expectServiceUnavailable(gateway);
      await proxy.stop();

      // Back: same port, same handle, same gateway.
      await proxy.start('forward');
      expectHealthy(await gateway.app.inject({ method: 'GET', url: '/healthz' }));
      await expectReady(gateway);
      const after = await gateway.request<{ dashboard: { totalTransactions: number } }, never>(DASHBOARD);
      expect(after).toEqual({
        status: 200,
        body: { data: { dashboard: { totalTransactions: 0 } }, extensions: { cost: { requested: 2, maximum: 5_000 } } },
      });
    });
  },
);
