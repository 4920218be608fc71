import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createClient, type Client } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { prepareDatabase, readServerVersion, withDatabase } from './databases.js';
import { LOOPBACK } from './http.js';
import { stopAll, stopEverythingOnExit, type Supervised } from './processes.js';
import { SUBSCRIPTIONS_SECTION_END, SUBSCRIPTIONS_SECTION_START, withSection } from './results-sections.js';
import { startGatewayProcess } from './services.js';

// `npm run bench:subscriptions`: how many subscribers one gateway holds, and how long a transaction written
// straight into PostgreSQL takes to reach the subscribers whose figures it changes.
//
// One gateway (a child process, like `npm start`) on a database of its own, seeded like the main benchmark's
// 10k database and dropped at the end. Active subscribers follow a dashboard over ranges that all contain the
// day the rounds write to, each range different (so each is its own live query); idle subscribers follow
// ranges the writes never touch, so their figures never change and nothing is pushed to them. Each round inserts
// one completed transaction and times, per active subscriber, the delay from the insert's commit to the push
// that carries it. Idle subscribers are then added in steps, and the rounds repeated with them connected.

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const benchDir = path.join(repoRoot, 'bench');
const logDir = path.join(benchDir, '.logs');
const RESULTS_FILE = path.join(benchDir, 'RESULTS.md');
const DATABASE = { id: 'subs', name: 'mp_bench_subs', transactions: 10_000 };
const WRITE_DAY = '2025-06-30';

const { values: flags } = parseArgs({
  options: {
    idle: { type: 'string', default: '1000,5000,10000' },
    active: { type: 'string', default: '200' },
    ranges: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '10' },
    'idle-rounds': { type: 'string', default: '5' },
    'keep-database': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
  },
});
const idleSteps = flags.idle.split(',').map(Number);
const activeCount = Number(flags.active);
const rangeCount = Number(flags.ranges);
const rounds = Number(flags.rounds);
const idleRounds = Number(flags['idle-rounds']);

const adminUrl = process.env.BENCH_DATABASE_URL?.trim() || process.env.DATABASE_URL?.trim();
if (!adminUrl) {
  console.error(
    'bench:subscriptions: set BENCH_DATABASE_URL or DATABASE_URL to a PostgreSQL where it may create a database',
  );
  process.exit(2);
}

const started = performance.now();
const log = (line: string) =>
  console.log(`[${String(Math.round((performance.now() - started) / 1000)).padStart(4)} s] ${line}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
stopEverythingOnExit();

// ------------------------------------------------------------------------------------------- measuring

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kib / 1024;
}

const DASHBOARD = `subscription LiveDashboard($from: Date, $to: Date) {
  dashboardUpdated(from: $from, to: $to) {
    totalRevenue totalTransactions completedTransactions avgOrderValue
    topProducts(limit: 5) { product { sku name } revenue unitsSold }
    recentTrend(days: 7) { date totalRevenue transactionCount }
  }
}`;

type DashboardMessage = { dashboardUpdated: { totalRevenue: string } };

interface Subscriber {
  client: Client;
  /** Arrival time of every result, the first (current figures) included. */
  arrivals: number[];
  revenues: string[];
  errors: number;
}

function day(offset: number): string {
  return new Date(Date.parse(`${WRITE_DAY}T00:00:00Z`) + offset * 86_400_000).toISOString().slice(0, 10);
}

async function subscribe(url: string, variables: { from: string; to: string }): Promise<Subscriber> {
  const subscriber: Subscriber = {
    client: createClient({
      url,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: false,
      onNonLazyError: () => undefined,
    }),
    arrivals: [],
    revenues: [],
    errors: 0,
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no first result within 60 s')), 60_000);
    subscriber.client.subscribe<DashboardMessage>(
      { query: DASHBOARD, variables },
      {
        next: (result) => {
          subscriber.arrivals.push(performance.now());
          subscriber.revenues.push(result.data?.dashboardUpdated.totalRevenue ?? '');
          clearTimeout(timer);
          resolve();
        },
        error: (error) => {
          subscriber.errors += 1;
          clearTimeout(timer);
          reject(error instanceof Error ? error : new Error(JSON.stringify(error)));
        },
        complete: () => undefined,
      },
    );
  });
  return subscriber;
}

/** Opens `count` subscribers, `batch` at a time (a burst of thousands of handshakes would overflow the backlog). */
async function subscribeMany(
  url: string,
  count: number,
  rangeOf: (i: number) => { from: string; to: string },
  batch = 100,
): Promise<Subscriber[]> {
  const all: Subscriber[] = [];
  for (let i = 0; i < count; i += batch) {
    const size = Math.min(batch, count - i);
    all.push(...(await Promise.all(Array.from({ length: size }, (_, k) => subscribe(url, rangeOf(i + k))))));
  }
  return all;
}

interface Round {
  p50: number;
  p99: number;
  max: number;
  missed: number;
}

let nextId = 900_000_000;

/** One write, and the delay until every active subscriber has it. */
async function round(writer: pg.Client, active: Subscriber[]): Promise<Round> {
  const counts = active.map((s) => s.arrivals.length);
  const id = nextId++;
  await writer.query(
    `INSERT INTO transactions (id, customer_id, product_id, quantity, amount, status, transaction_date)
     VALUES ($1, 1, 1, 1, 10.00, 'completed', $2::timestamptz)`,
    [id, `${WRITE_DAY}T12:00:00Z`],
  );
  const committedAt = performance.now();
  const deadline = committedAt + 15_000;
  while (performance.now() < deadline && active.some((s, i) => s.arrivals.length <= counts[i]!)) await sleep(5);
  const delays = active.flatMap((s, i) =>
    s.arrivals.length > counts[i]! ? [s.arrivals[counts[i]!]! - committedAt] : [],
  );
  delays.sort((a, b) => a - b);
  return {
    p50: percentile(delays, 50),
    p99: percentile(delays, 99),
    max: delays.at(-1) ?? NaN,
    missed: active.length - delays.length,
  };
}

async function runRounds(writer: pg.Client, active: Subscriber[], count: number): Promise<Round[]> {
  const results: Round[] = [];
  for (let i = 0; i < count; i++) {
    // Quiet time between rounds, so that each write is a change of its own and not part of a burst.
    await sleep(1_000);
    results.push(await round(writer, active));
  }
  return results;
}

const fmt = (ms: number) => (Number.isNaN(ms) ? '–' : ms >= 100 ? `${Math.round(ms)} ms` : `${ms.toFixed(1)} ms`);
const int = (n: number) => n.toLocaleString('en-US');

// ------------------------------------------------------------------------------------------------- run

interface GatewayRun {
  debounceMs: number;
  baselineRss: number;
  activeRss: number;
  rounds: Round[];
  steps: {
    idle: number;
    sockets: number;
    rss: number;
    subscribeSeconds: number;
    rounds: Round[];
    idlePushes: number;
  }[];
}

async function startGateway(databaseUrl: string, debounceMs: number): Promise<{ proc: Supervised; url: string }> {
  const { proc, port } = await startGatewayProcess(
    `gateway-subscriptions-${debounceMs}`,
    // Every subscriber comes from this one process, so from one client address: one principal.
    {
      databaseUrl,
      env: {
        SUBSCRIPTION_DEBOUNCE_MS: String(debounceMs),
        SUBSCRIPTIONS_MAX_PER_INSTANCE: '100000',
        SUBSCRIPTIONS_MAX_PER_PRINCIPAL: '100000',
      },
    },
    { repoRoot, logDir },
  );
  return { proc, url: `ws://${LOOPBACK}:${port}/graphql` };
}

async function measure(databaseUrl: string, debounceMs: number, withIdle: boolean): Promise<GatewayRun> {
  log(`gateway with SUBSCRIPTION_DEBOUNCE_MS=${debounceMs}`);
  const { proc, url } = await startGateway(databaseUrl, debounceMs);
  const pid = proc.child.pid!;
  const writer = new pg.Client({ connectionString: databaseUrl, application_name: 'marketpulse-bench-writer' });
  await writer.connect();
  const everyone: Subscriber[] = [];
  try {
    const baselineRss = rssMiB(pid);
    // Active: `rangeCount` different ranges ending on the written day, `activeCount / rangeCount` subscribers each.
    const active = await subscribeMany(url, activeCount, (i) => ({
      from: day(-7 * (1 + (i % rangeCount))),
      to: WRITE_DAY,
    }));
    everyone.push(...active);
    const activeRss = rssMiB(pid);
    log(`  ${activeCount} active subscribers on ${rangeCount} ranges; ${rounds} rounds`);
    const first = await runRounds(writer, active, rounds);
    const run: GatewayRun = { debounceMs, baselineRss, activeRss, rounds: first, steps: [] };
    if (!withIdle) return run;

    let idle: Subscriber[] = [];
    for (const target of idleSteps) {
      const opening = performance.now();
      // Idle: ten ranges in January, which the rounds never write to.
      const added = await subscribeMany(url, target - idle.length, (i) => ({
        from: '2025-01-01',
        to: day(-170 - (i % 10)),
      }));
      idle = idle.concat(added);
      everyone.push(...added);
      const subscribeSeconds = (performance.now() - opening) / 1000;
      await sleep(2_000);
      const rss = rssMiB(pid);
      const before = idle.reduce((sum, s) => sum + s.arrivals.length, 0);
      log(
        `  +${int(added.length)} idle subscribers (${int(idle.length)} in all) in ${subscribeSeconds.toFixed(1)} s; RSS ${rss.toFixed(0)} MiB; ${idleRounds} rounds`,
      );
      const stepRounds = await runRounds(writer, active, idleRounds);
      const idlePushes = idle.reduce((sum, s) => sum + s.arrivals.length, 0) - before;
      run.steps.push({
        idle: idle.length,
        sockets: idle.length + active.length,
        rss,
        subscribeSeconds,
        rounds: stepRounds,
        idlePushes,
      });
    }
    return run;
  } finally {
    await Promise.all(everyone.map(async (s) => s.client.dispose()));
    await writer.query('DELETE FROM transactions WHERE id >= 900000000').catch(() => undefined);
    await writer.end();
    await proc.stop();
  }
}

function summary(label: string, list: Round[]): string {
  const missed = list.reduce((sum, r) => sum + r.missed, 0);
  return `| ${label} | ${list.length} | ${fmt(median(list.map((r) => r.p50)))} | ${fmt(median(list.map((r) => r.p99)))} | ${fmt(Math.max(...list.map((r) => r.max)))} | ${missed} |`;
}

function render(runs: GatewayRun[], postgres: string, commit: string): string {
  const withIdle = runs.find((run) => run.steps.length > 0)!;
  const lines = [
    SUBSCRIPTIONS_SECTION_START,
    '## Live subscriptions',
    '',
    `Produced by \`npm run bench:subscriptions\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC at commit \`${commit}\`:`,
    `${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, PostgreSQL ${postgres};`,
    'the gateway, the subscribers (graphql-ws clients over `ws`, in one process) and PostgreSQL share the machine.',
    `Data: \`${DATABASE.name}\`, seeded like \`mp_bench_10k\` and dropped afterwards. Each subscriber has a socket of its own`,
    'and follows a dashboard (totals, top 5 products, 7-day trend). Active subscribers: ' +
      `${activeCount} over ${rangeCount} different ranges that contain the written day (${rangeCount} live queries); idle`,
    'subscribers: ranges in January that the writes never touch (10 live queries), so nothing is pushed to them.',
    'A round inserts one completed transaction with plain SQL and measures, for every active subscriber, the delay',
    'from the commit to the push that carries it; rounds are 1 s apart. p50 and p99 are the **medians over the rounds**',
    "of each round's percentiles; max is the slowest push of all rounds.",
    '',
    '| insert to push | rounds | p50 | p99 | max | missed |',
    '|---|---:|---:|---:|---:|---:|',
    ...runs.map((run) =>
      summary(
        `${activeCount} active${run.debounceMs === 250 ? ', debounce 250 ms (default)' : `, debounce ${run.debounceMs} ms`}`,
        run.rounds,
      ),
    ),
    ...withIdle.steps.map((step) =>
      summary(`${activeCount} active + ${int(step.idle)} idle, debounce ${withIdle.debounceMs} ms`, step.rounds),
    ),
    '',
    "| subscribers held | open sockets | gateway RSS | RSS per idle subscriber | time to open the step's new subscribers | pushes to idle subscribers |",
    '|---|---:|---:|---:|---:|---:|',
    `| none | 0 | ${withIdle.baselineRss.toFixed(0)} MiB | | | |`,
    `| ${activeCount} active | ${activeCount} | ${withIdle.activeRss.toFixed(0)} MiB | | | |`,
    ...withIdle.steps.map(
      (step) =>
        `| ${activeCount} active + ${int(step.idle)} idle | ${int(step.sockets)} | ${step.rss.toFixed(0)} MiB | ${(((step.rss - withIdle.activeRss) * 1024) / step.idle).toFixed(1)} KiB | ${step.subscribeSeconds.toFixed(1)} s | ${step.idlePushes} |`,
    ),
    '',
    'The delay is mostly the debounce: a change is recomputed once no other change has come for',
    '`SUBSCRIPTION_DEBOUNCE_MS`; the rest is recomputing each changed live query once (4 at a time) and writing',
    'its result to its subscribers. Idle subscribers cost memory and a recomputation of their live queries per',
    'change, but no pushes, since their results do not change. The idle steps are set with `--idle` (the largest',
    'here is bounded by the file descriptors of the one process that holds every client socket, not by the gateway);',
    'a gateway holds `SUBSCRIPTIONS_MAX_PER_INSTANCE` (10,000 by default) subscriptions, at most',
    '`SUBSCRIPTIONS_MAX_PER_PRINCIPAL` (100) of one client; the benchmark raises both.',
    SUBSCRIPTIONS_SECTION_END,
  ];
  return `${lines.join('\n')}\n`;
}

async function main() {
  const postgres = await readServerVersion(adminUrl!);
  const prepared = await prepareDatabase(DATABASE, {
    adminUrl: adminUrl!,
    repoRoot,
    logDir,
    fresh: false,
    parameters: { seed: 42, until: WRITE_DAY },
    log,
  });
  log(`database ${prepared.name}: ${int(prepared.counts.transactions)} transactions`);
  const databaseUrl = withDatabase(adminUrl!, DATABASE.name);
  try {
    const runs = [await measure(databaseUrl, 250, true), await measure(databaseUrl, 0, false)];
    const { execFileSync } = await import('node:child_process');
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    const section = render(runs, postgres, commit);
    console.log(`\n${section}`);
    if (!flags['no-write']) {
      writeFileSync(RESULTS_FILE, withSection(readFileSync(RESULTS_FILE, 'utf8'), section));
      log(`wrote the "Live subscriptions" section of ${path.relative(repoRoot, RESULTS_FILE)}`);
    }
  } finally {
    if (!flags['keep-database']) {
      const admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${DATABASE.name} WITH (FORCE)`);
      await admin.end();
      log(`dropped ${DATABASE.name}`);
    }
  }
}

main()
  .then(() => stopAll())
  .then(() => process.exit(0))
  .catch(async (error: unknown) => {
    console.error(error);
    await stopAll();
    process.exit(1);
  });
