import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { has } from '../support/requirements.js';
import { insertOneSale, installQueryDelay, setQueryDelay } from '../support/slow-queries.js';

// Shutdown as an orchestrator sees it: the real start-up path in a process of its own, with NODE_ENV=production
// (libraries change their behaviour outside NODE_ENV=test: Apollo Server, for one, installs signal handlers of
// its own unless told not to), signalled as Kubernetes or Docker would.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DASHBOARD = JSON.stringify({ query: '{ dashboard { totalTransactions totalRevenue } }' });
const DASHBOARD_DATA = { dashboard: { totalTransactions: 1, totalRevenue: '25.00' } };
const SHUTDOWN_DELAY_MS = 3_000;
// The request in flight outlasts the delay, so that it is still running when the listener closes.
const SLOW_SECONDS = 5;

/** Starts the gateway as the container image does (`src/main.ts` with tsx's loader), in a process group of its own. */
function launchGateway(env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
}

interface Started {
  child: ChildProcess;
  base: string;
  logs: { msg: string }[];
  exited: Promise<number | null>;
}

/** A production gateway on the test's database, once it says it is serving. */
async function startGateway(databaseUrl: string): Promise<Started> {
  const child = launchGateway({
    ...process.env,
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    REDIS_URL: '',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    CACHE_TTL_SECONDS: '0',
    SHUTDOWN_DELAY_MS: String(SHUTDOWN_DELAY_MS),
    SHUTDOWN_GRACE_MS: '20000',
  });
  const logs: { msg: string }[] = [];
  let buffered = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the gateway did not start: ${JSON.stringify(logs)}`)), 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        try {
          const entry = JSON.parse(line) as { msg: string };
          logs.push(entry);
          const serving = /^MarketPulse is serving (http:\/\/\S+)\/graphql$/.exec(entry.msg);
          if (serving) {
            clearTimeout(timer);
            resolve(serving[1]!);
          }
        } catch {
          // not a log line
        }
      }
    });
    void exited.then((code) => reject(new Error(`the gateway exited with ${code}: ${JSON.stringify(logs)}`)));
  });
  return { child, base, logs, exited };
}

function stopGroup(child: ChildProcess | undefined) {
  if (child?.pid && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
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
      { method: body === undefined ? 'GET' : 'POST', agent: false, headers: body === undefined ? {} : { 'content-type': 'application/json' } },
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
      WHERE datname = current_database() AND state = 'active' AND application_name LIKE 'marketpulse %'`.execute(database.handle.db);
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

describe.runIf(has('postgres-server', 'the SIGTERM test (a gateway process on the test’s own database)'))('SIGTERM with NODE_ENV=production', () => {
  let database: TestDatabase;
  const started: Started[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    await installQueryDelay(database.handle);
    await insertOneSale(database.handle);
  });

  afterAll(async () => {
    for (const { child } of started) stopGroup(child);
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
    const ready = await pollUntil(() => onNewConnection(gateway.base, '/readyz'), (answer) => answer.status === 503, 1_000);
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
    const refused = await pollUntil(() => refusal(gateway.base), (outcome) => outcome === 'ECONNREFUSED', SHUTDOWN_DELAY_MS + 1_500);
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
    await pollUntil(() => onNewConnection(gateway.base, '/readyz'), (answer) => answer.status === 503, 1_000);
    const second = Date.now();
    process.kill(gateway.child.pid!, 'SIGTERM');
    expect(await withinMs(gateway.exited, 5_000)).toBe(1);
    const exitedAfter = Date.now() - second;
    expect(exitedAfter).toBeLessThan(1_000);
    await context.annotate(`exited ${exitedAfter} ms after the second signal`);
    expect(gateway.logs.map((entry) => entry.msg)).toContain('second signal: exiting now');
    await slow;
  }, 90_000);
});
