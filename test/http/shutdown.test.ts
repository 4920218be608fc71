import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { insertOneSale, installQueryDelay, setQueryDelay } from '../support/slow-queries.js';

const DASHBOARD = JSON.stringify({ query: '{ dashboard { totalTransactions totalRevenue } }' });
const SLOW_SECONDS = 3;
const SHUTDOWN_DELAY_MS = 1_500;

/** Starts the gateway as `npm start` would on a real PostgreSQL. */
function startGateway(databaseUrl: string): Promise<GatewayProcess> {
  return startGatewayProcess({
    DATABASE_URL: databaseUrl,
    NODE_ENV: 'test',
    CACHE_TTL_SECONDS: '0',
    SHUTDOWN_DELAY_MS: String(SHUTDOWN_DELAY_MS),
    SHUTDOWN_GRACE_MS: '20000',
  });
}

async function withinMs<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function waitForSlowQuery(database: TestDatabase) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND state = 'active' AND application_name = 'marketpulse' AND query LIKE '%/* dashboard.%'`.execute(
      database.handle.db,
    );
    if (rows[0]!.n > 0) return;
    if (Date.now() > deadline) throw new Error('the slow request never reached PostgreSQL');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe.runIf(inject('databaseUrl'))('SIGTERM', () => {
  let database: TestDatabase;
  const started: GatewayProcess[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    await installQueryDelay(database.handle);
    await insertOneSale(database.handle);
  });

  afterAll(async () => {
    await Promise.all(started.map((gateway) => gateway.kill()));
    await setQueryDelay(database.handle, 0).catch(() => undefined);
    await database?.drop();
  });

  it('during a slow request: readiness turns 503, the request completes, new connections are refused, exit 0', async () => {
    const gateway = await startGateway(database.url!);
    started.push(gateway);
    expect((await fetch(`${gateway.base}/readyz`)).status).toBe(200);

    await setQueryDelay(database.handle, SLOW_SECONDS);
    const slow = fetch(`${gateway.base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: DASHBOARD });
    slow.catch(() => undefined);
    await waitForSlowQuery(database);
    await setQueryDelay(database.handle, 0);
    process.kill(gateway.child.pid!, 'SIGTERM');

    const signalled = Date.now();

    // Within the shutdown delay the gateway still listens, and tells the load balancer to go away (once the
    // signal has arrived: it is delivered asynchronously).
    let ready = await fetch(`${gateway.base}/readyz`, { headers: { connection: 'close' } });
    while (ready.status === 200 && Date.now() - signalled < SHUTDOWN_DELAY_MS / 2) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      ready = await fetch(`${gateway.base}/readyz`, { headers: { connection: 'close' } });
    }
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'stopping' });

    // After it, new connections are refused while the slow request is still running.
    await new Promise((resolve) => setTimeout(resolve, SHUTDOWN_DELAY_MS + 400 - (Date.now() - signalled)));
    await expect(fetch(`${gateway.base}/healthz`, { headers: { connection: 'close' } })).rejects.toThrow();

    const response = await slow;
    expect(response.status).toBe(200);
    expect(((await response.json()) as { data: unknown }).data).toEqual({ dashboard: { totalTransactions: 1, totalRevenue: '25.00' } });
    expect(await withinMs(gateway.exited, 15_000)).toBe(0);
    const messages = gateway.logs.map((entry) => entry.msg);
    expect(messages).toContain('shutting down');
    expect(messages).toContain('shut down cleanly');
  }, 90_000);

  it('a second signal exits at once', async () => {
    const gateway = await startGateway(database.url!);
    started.push(gateway);
    await setQueryDelay(database.handle, 10);
    const slow = fetch(`${gateway.base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: DASHBOARD }).catch(
      (error: unknown) => error,
    );
    await waitForSlowQuery(database);
    await setQueryDelay(database.handle, 0);
    process.kill(gateway.child.pid!, 'SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    process.kill(gateway.child.pid!, 'SIGTERM');
    expect(await withinMs(gateway.exited, 5_000)).toBe(1);
    expect(gateway.logs.map((entry) => entry.msg)).toContain('second signal: exiting now');
    await slow;
  }, 90_000);
});
