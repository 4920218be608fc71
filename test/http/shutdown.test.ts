import http from 'node:http';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { has } from '../support/requirements.js';
import { insertOneSale, installQueryDelay, setQueryDelay } from '../support/slow-queries.js';

// Shutdown as an orchestrator sees it: the real start-up path in a process of its own, with NODE_ENV=production
// (libraries change their behaviour outside NODE_ENV=test: Apollo Server, for one, installs signal handlers of
// its own unless told not to), signalled as Kubernetes or Docker would.
const DASHBOARD = JSON.stringify({ query: '{ dashboard { totalTransactions totalRevenue } }' });
const DASHBOARD_DATA = { dashboard: { totalTransactions: 1, totalRevenue: '25.00' } };
const SHUTDOWN_DELAY_MS = 3_000;
// The request in flight outlasts the delay, so that it is still running when the listener closes.
const SLOW_SECONDS = 5;

/** A production gateway on the test's database, started as the image starts it, once it says it is serving. */
function startGateway(databaseUrl: string): Promise<GatewayProcess> {
  return startGatewayProcess({
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    CACHE_TTL_SECONDS: '0',
    SHUTDOWN_DELAY_MS: String(SHUTDOWN_DELAY_MS),
    SHUTDOWN_GRACE_MS: '20000',
  });
}

interface Answer {
  status: number;
  body: string;
}

/** One request on a connection of its own (no keep-alive pool): what a new client of the load balancer would make. */
function onNewConnection(base: string, path: string, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${base}${path}`,
      {
        method: body === undefined ? 'GET' : 'POST',
        agent: false,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode!, body: text }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
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
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' AND application_name = 'marketpulse'
        AND query LIKE '%/* dashboard.%'`.execute(database.handle.db);
    if (rows[0]!.n > 0) return;
    if (Date.now() > deadline) throw new Error('the slow request never reached PostgreSQL');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Asks `probe` every 20 ms until `accept` holds, for at most `withinMsOf` ms; returns the last outcome. */
async function pollUntil<T>(probe: () => Promise<T>, accept: (outcome: T) => boolean, withinMsOf: number): Promise<T> {
  const started = Date.now();
  for (;;) {
    const outcome = await probe();
    if (accept(outcome) || Date.now() - started > withinMsOf) return outcome;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const refusal = (base: string) =>
  onNewConnection(base, '/healthz').then(
    (answer) => answer,
    (error: NodeJS.ErrnoException) => error.code ?? String(error),
  );

describe.runIf(has('postgres-server', 'the SIGTERM test (a gateway process on the test’s own database)'))(
  'SIGTERM with NODE_ENV=production',
  () => {
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

    it('turns readiness 503 and keeps serving new connections for SHUTDOWN_DELAY_MS, then refuses them, finishes the request in flight and exits 0', async (context) => {
      const gateway = await startGateway(database.url!);
      started.push(gateway);
      expect((await onNewConnection(gateway.base, '/readyz')).status).toBe(200);

      await setQueryDelay(database.handle, SLOW_SECONDS);
      const slow = onNewConnection(gateway.base, '/graphql', DASHBOARD);
      slow.catch(() => undefined);
      await waitForSlowQuery(database);
      await setQueryDelay(database.handle, 0);

      const signalled = Date.now();
      const at = () => Date.now() - signalled;
      process.kill(gateway.child.pid!, 'SIGTERM');
      const timeline: Record<string, number> = { signal: 0 };
      let slowAnsweredAt: number | undefined;
      void slow.then(() => (slowAnsweredAt = at()));

      // The signal is delivered asynchronously: readiness turns within a moment, not necessarily at once.
      const ready = await pollUntil(
        () => onNewConnection(gateway.base, '/readyz'),
        (answer) => answer.status === 503,
        1_000,
      );
      timeline.readiness503 = at();
      expect(ready).toEqual({ status: 503, body: JSON.stringify({ status: 'stopping' }) });

      // Load balancers take a while to notice: meanwhile, requests on new connections are still answered in full.
      const served = await onNewConnection(gateway.base, '/graphql', DASHBOARD);
      timeline.servedDuringDelay = at();
      expect(served.status).toBe(200);
      expect(JSON.parse(served.body)).toMatchObject({ data: DASHBOARD_DATA });
      expect((await onNewConnection(gateway.base, '/healthz')).status).toBe(200);
      expect(at()).toBeLessThan(SHUTDOWN_DELAY_MS);

      // Once the delay is over the listener closes: new connections are refused while the slow request still runs.
      const refused = await pollUntil(
        () => refusal(gateway.base),
        (outcome) => outcome === 'ECONNREFUSED',
        SHUTDOWN_DELAY_MS + 1_500,
      );
      timeline.refusingConnections = at();
      expect(refused).toBe('ECONNREFUSED');
      expect(timeline.refusingConnections).toBeGreaterThanOrEqual(SHUTDOWN_DELAY_MS);
      expect(slowAnsweredAt).toBeUndefined();

      const answer = await withinMs(slow, 15_000);
      timeline.inFlightAnswered = at();
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toMatchObject({ data: DASHBOARD_DATA });

      expect(await withinMs(gateway.exited, 15_000)).toBe(0);
      timeline.exited = at();
      const messages = gateway.logs.map((entry) => entry.msg);
      expect(messages).toContain('shutting down');
      expect(messages).toContain('shut down cleanly');
      // For whoever tunes SHUTDOWN_DELAY_MS: milliseconds after the signal at which each step was seen.
      await context.annotate(`shutdown timeline (ms after SIGTERM): ${JSON.stringify(timeline)}`);
    }, 90_000);

    it('exits 1 at once on a second signal', async (context) => {
      const gateway = await startGateway(database.url!);
      started.push(gateway);
      await setQueryDelay(database.handle, 10);
      const slow = onNewConnection(gateway.base, '/graphql', DASHBOARD).catch((error: unknown) => error);
      await waitForSlowQuery(database);
      await setQueryDelay(database.handle, 0);
      process.kill(gateway.child.pid!, 'SIGTERM');
      // Still within the shutdown delay: the first signal alone would keep the process up for seconds yet.
      await pollUntil(
        () => onNewConnection(gateway.base, '/readyz'),
        (answer) => answer.status === 503,
        1_000,
      );
      const second = Date.now();
      process.kill(gateway.child.pid!, 'SIGTERM');
      expect(await withinMs(gateway.exited, 5_000)).toBe(1);
      const exitedAfter = Date.now() - second;
      expect(exitedAfter).toBeLessThan(1_000);
      await context.annotate(`exited ${exitedAfter} ms after the second signal`);
      expect(gateway.logs.map((entry) => entry.msg)).toContain('second signal: exiting now');
      await slow;
    }, 90_000);
  },
);
