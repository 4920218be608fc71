import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../src/db/database-handle.js';
import { currentRequest } from '../../src/observability/request-context.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway, type GraphQLResponse, type TestGateway } from '../support/gateway.js';
import { connectPostgres } from '../../src/db/postgres-connector.js';
import { describeRoutes } from '../support/routes.js';
import { insertOneSale, installQueryDelay, setQueryDelay } from '../support/slow-queries.js';
import { has } from '../support/requirements.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const DASHBOARD = { query: '{ dashboard { totalTransactions totalRevenue } }' };
const HEALTHY = {
  data: { dashboard: { totalTransactions: 1, totalRevenue: '25.00' } },
  extensions: { cost: { requested: 3, maximum: 5_000 } },
};

interface Session {
  pid: number;
  application_name: string;
  state: string;
}

/** The gateway's sessions on this test file's database (the `marketpulse` application name), and only those. */
async function gatewaySessions(database: TestDatabase, where: 'active' | 'any' = 'any'): Promise<Session[]> {
  const { rows } = await sql<Session>`
    SELECT pid, application_name, state FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'marketpulse'
      AND (${where} = 'any' OR state = 'active')`.execute(database.handle.db);
  return rows;
}

/** The sessions running one of the dashboard's statements (each names itself in a leading comment). */
async function dashboardStatements(database: TestDatabase): Promise<Session[]> {
  const { rows } = await sql<Session>`
    SELECT pid, application_name, state FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE '%/* dashboard.%'`.execute(
    database.handle.db,
  );
  return rows;
}

async function waitFor<T>(probe: () => Promise<T | undefined>, withinMs = 10_000): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function post(gateway: TestGateway, payload: object) {
  return gateway.post<{ dashboard: { totalTransactions: number } }>(payload);
}

function codes(body: GraphQLResponse<unknown>) {
  return [...new Set((body.errors ?? []).map((error) => error.extensions?.code))];
}

// Outages are played on the gateway's own sessions of this file's own database: sessions are found by
// datname and application_name, so nobody else's backends are touched.
describe.runIf(has('postgres-server', 'killing and stalling the gateway’s sessions from another one'))(
  'PostgreSQL faults',
  () => {
    let database: TestDatabase;

    beforeAll(async () => {
      database = await createTestDatabase();
      await installQueryDelay(database.handle);
      await insertOneSale(database.handle);
    });

    afterAll(async () => {
      await setQueryDelay(database.handle, 0).catch(() => undefined);
      await database?.drop();
    });

    describe('a backend terminated mid-query', () => {
      let handle: DatabaseHandle;
      let gateway: TestGateway;

      beforeAll(async () => {
        handle = await database.reopen({ poolMax: 4, requestLabel: () => currentRequest()?.requestId });
        gateway = await startTestGateway(handle);
      });

      afterAll(async () => {
        await setQueryDelay(database.handle, 0);
        await gateway?.close();
      });

      it('answers 503 SERVICE_UNAVAILABLE, and the next request is served on a new connection', async () => {
        await setQueryDelay(database.handle, 5);
        const pending = gateway.post(DASHBOARD, { 'x-request-id': 'to-be-terminated' });
        const running = () => dashboardStatements(database);
        await waitFor(async () => ((await running()).length > 0 ? true : undefined));
        // The dashboard's queries start together; give the others a moment to be sleeping too.
        await new Promise((resolve) => setTimeout(resolve, 300));
        const victims = await running();
        await setQueryDelay(database.handle, 0);
        for (const victim of victims) await sql`SELECT pg_terminate_backend(${victim.pid})`.execute(database.handle.db);

        const response = await pending;
        expect(response.status).toBe(503);
        expect(response.headers['retry-after']).toBeDefined();
        expect(codes(response.body)).toEqual(['SERVICE_UNAVAILABLE']);

        const after = await post(gateway, DASHBOARD);
        expect({ status: after.status, body: after.body }).toEqual({ status: 200, body: HEALTHY });
      });
    });

    describe('a statement over PG_STATEMENT_TIMEOUT_MS', () => {
      // Directly, PostgreSQL times the statement (statement_timeout); through PgBouncer, which keeps no session
      // setting for a client, the gateway asks PostgreSQL to cancel it, through PgBouncer, at the same limit.
      describeRoutes((route) => {
        let handle: DatabaseHandle;
        let gateway: TestGateway;

        beforeAll(async () => {
          handle = await route.open(database, {
            statementTimeoutMs: 300,
            requestLabel: () => currentRequest()?.requestId,
          });
          gateway = await startTestGateway(handle);
        });

        afterAll(async () => {
          await setQueryDelay(database.handle, 0);
          await gateway?.close();
        });

        it('answers 503 QUERY_TIMEOUT with Retry-After, and PostgreSQL has cancelled the query', async () => {
          await setQueryDelay(database.handle, 3);
          const started = performance.now();
          const response = await gateway.post(DASHBOARD, { 'x-request-id': 'too-slow' });
          const ms = performance.now() - started;
          await setQueryDelay(database.handle, 0);
          expect(response.status).toBe(503);
          expect(response.headers['retry-after']).toBe('5');
          expect(codes(response.body)).toEqual(['QUERY_TIMEOUT']);
          expect(response.body.errors?.[0]?.message).not.toMatch(/statement|canceling|pg_sleep|SELECT/i);
          // Cancelled by the server at its timeout, long before the three seconds the query would have slept.
          expect(ms).toBeLessThan(2_500);
          expect(await dashboardStatements(database)).toEqual([]);

          const after = await post(gateway, DASHBOARD);
          expect({ status: after.status, body: after.body }).toEqual({ status: 200, body: HEALTHY });
        });

        it('leaves a statement that ends within the limit alone', async () => {
          await setQueryDelay(database.handle, 0.15);
          try {
            for (let i = 0; i < 3; i++) {
              const response = await post(gateway, DASHBOARD);
              expect({ status: response.status, body: response.body }).toEqual({ status: 200, body: HEALTHY });
            }
          } finally {
            await setQueryDelay(database.handle, 0);
          }
        });
      });
    });

    describe('PostgreSQL that stops answering mid-statement', () => {
      let proxy: TcpProxy;
      let handle: DatabaseHandle;
      let gateway: TestGateway;

      beforeAll(async () => {
        proxy = new TcpProxy(database.url!);
        await proxy.start('forward');
        handle = connectPostgres(proxy.url, {
          reportTimezone: 'UTC',
          statementTimeoutMs: 400,
          connectTimeoutMs: 400,
          poolMax: 3,
        });
        gateway = await startTestGateway(handle);
      });

      afterAll(async () => {
        await gateway?.close();
        await handle?.close();
        await proxy?.stop();
      });

      it('gives up after the statement and connect timeouts with 503 SERVICE_UNAVAILABLE, then recovers', async () => {
        expect((await post(gateway, DASHBOARD)).body).toEqual(HEALTHY);
        // Replies are held back: the server neither answers nor closes, as over a broken network.
        proxy.setMode('stall');
        const started = performance.now();
        const response = await post(gateway, DASHBOARD);
        const ms = performance.now() - started;
        expect(response.status).toBe(503);
        expect(codes(response.body)).toEqual(['SERVICE_UNAVAILABLE']);
        expect(ms).toBeLessThan(5_000);
        proxy.setMode('forward');
        const after = await post(gateway, DASHBOARD);
        expect({ status: after.status, body: after.body }).toEqual({ status: 200, body: HEALTHY });
      });
    });

    describe('the pool exhausted by 200 concurrent requests', () => {
      const POOL_MAX = 3;
      let handle: DatabaseHandle;
      let gateway: TestGateway;

      beforeAll(async () => {
        handle = await database.reopen({ poolMax: POOL_MAX, connectTimeoutMs: 1_000 });
        gateway = await startTestGateway(handle);
      });

      afterAll(async () => {
        await setQueryDelay(database.handle, 0);
        await gateway?.close();
      });

      it('queues or refuses with 503 SERVICE_UNAVAILABLE, never fails otherwise, and leaks nothing', async () => {
        await setQueryDelay(database.handle, 0.2);
        const responses = await Promise.all(Array.from({ length: 200 }, () => post(gateway, DASHBOARD)));
        await setQueryDelay(database.handle, 0);

        const served = responses.filter((r) => r.status === 200);
        const refused = responses.filter((r) => r.status === 503);
        expect(served.length + refused.length).toBe(200);
        for (const response of served) expect(response.body).toEqual(HEALTHY);
        for (const response of refused) {
          expect(codes(response.body)).toEqual(['SERVICE_UNAVAILABLE']);
          expect(response.headers['retry-after']).toBe('5');
        }
        // Some were queued and served; a wait of one second cannot hold 600 statements of 200 ms on 3 connections.
        expect(served.length).toBeGreaterThan(0);
        expect(refused.length).toBeGreaterThan(0);

        // Afterwards: nobody waits, every connection is back in the pool, PostgreSQL holds no more than the pool.
        const stats = await waitFor(async () => {
          const now = handle.poolStats!();
          return now.waiting === 0 && now.idle === now.total ? now : undefined;
        });
        expect(stats.total).toBeLessThanOrEqual(POOL_MAX);
        const sessions = await gatewaySessions(database);
        expect(sessions.filter((s) => s.state === 'active')).toEqual([]);

        const after = await post(gateway, DASHBOARD);
        expect({ status: after.status, body: after.body }).toEqual({ status: 200, body: HEALTHY });
      });
    });
  },
);
