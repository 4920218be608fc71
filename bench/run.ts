import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { prepareDatabase, readServerVersion, type PreparedDatabase } from './databases.js';
import { runLoad, ServerGoneError } from './load.js';
import { describeMachine } from './machine.js';
import { parseOptions, USAGE, UsageError, type BenchOptions } from './options.js';
import { stopAll, stopEverythingOnExit } from './processes.js';
import { renderResults, type RunResults } from './report.js';
import { keepSections } from './results-sections.js';
import type { LoadOutcome, Outcome, OutcomeIndex, ProbeOutcome, Scenario } from './scenario.js';
import { catalogue } from './scenarios.js';
import {
  ensurePostgraphileInstalled,
  provideRedis,
  startService,
  type RunningService,
  type ServiceContext,
} from './services.js';

// `npm run bench`: prepares the databases, then runs each scenario in catalogue order, starting servers
// when first needed and stopping them once no later scenario needs them, and writes the results.

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const benchDir = path.join(repoRoot, 'bench');
const logDir = path.join(benchDir, '.logs');
const runStarted = performance.now();

function log(line: string): void {
  const seconds = Math.round((performance.now() - runStarted) / 1000);
  console.log(
    `[${String(Math.floor(seconds / 60)).padStart(2, '0')}:${String(seconds % 60).padStart(2, '0')}] ${line}`,
  );
}

function readOptions(): BenchOptions {
  try {
    const options = parseOptions(process.argv.slice(2));
    if (options === 'help') {
      console.log(USAGE);
      process.exit(0);
    }
    return options;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bench: ${error.message}\n\n${USAGE}`);
    process.exit(2);
  }
}

const options = readOptions();
if (options.list) {
  for (const scenario of catalogue.scenarios) console.log(`${scenario.id.padEnd(28)} ${scenario.title}`);
  process.exit(0);
}
const unknown = (options.only ?? []).filter((id) => !catalogue.scenarios.some((scenario) => scenario.id === id));
if (unknown.length > 0) {
  console.error(`bench: unknown scenario(s) ${unknown.join(', ')}; --list shows them`);
  process.exit(2);
}
const adminUrl = process.env.BENCH_DATABASE_URL?.trim() || process.env.DATABASE_URL?.trim();
if (!adminUrl) {
  console.error(
    'bench: set BENCH_DATABASE_URL or DATABASE_URL to a PostgreSQL where the benchmark may create databases,\n' +
      '  e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench',
  );
  process.exit(2);
}

const scenarios = catalogue.scenarios.filter((scenario) => !options.only || options.only.includes(scenario.id));
let stopLoad: (() => void) | undefined;
stopEverythingOnExit(() => stopLoad?.());

// ------------------------------------------------------------------------------------ what the run needs

const servicesOf = (scenario: Scenario) => (scenario.kind === 'load' ? [scenario.service] : scenario.services);

/** A service and the ones it needs to start (the ceiling copies a gateway's answer). */
function withStartDependencies(id: string): string[] {
  const spec = catalogue.services[id];
  if (!spec) throw new Error(`scenario uses unknown service ${id}`);
  return spec.kind === 'ceiling' ? [id, ...withStartDependencies(spec.bodyFrom.service)] : [id];
}

/** The database a service serves (varying requests are made from its days). */
function databaseOf(serviceId: string): string {
  const spec = catalogue.services[serviceId];
  if (!spec || spec.kind === 'ceiling') throw new Error(`service ${serviceId} has no database of its own`);
  return spec.database;
}

function databasesOf(serviceIds: string[]): string[] {
  const ids = new Set<string>();
  for (const id of serviceIds.flatMap(withStartDependencies)) {
    const spec = catalogue.services[id]!;
    if (spec.kind !== 'ceiling') ids.add(spec.database);
  }
  return catalogue.databases.map((db) => db.id).filter((id) => ids.has(id));
}

// ----------------------------------------------------------------------------------------- environment

const databases = new Map<string, PreparedDatabase>();
const running = new Map<string, Promise<RunningService>>();
let redis: ReturnType<typeof provideRedis> | undefined;

function prepared(id: string): PreparedDatabase {
  const database = databases.get(id);
  if (!database) throw new Error(`database ${id} was not prepared`);
  return database;
}

const context: ServiceContext = {
  repoRoot,
  logDir,
  cacheTtlSeconds: options.cacheTtlSeconds,
  database: async (id) => prepared(id),
  async redis(database) {
    redis ??= provideRedis(context, process.env.BENCH_REDIS_URL?.trim() || undefined);
    const { url } = await redis;
    if (!url) return undefined;
    // A logical Redis database per bench database: cache keys name the query, not the data behind it.
    const index = catalogue.databases.findIndex((db) => db.id === database) + 1;
    const withIndex = new URL(url);
    withIndex.pathname = `/${index}`;
    return withIndex.toString();
  },
  service(id) {
    let service = running.get(id);
    if (!service) {
      const spec = catalogue.services[id];
      if (!spec) return Promise.reject(new Error(`unknown service ${id}`));
      log(`  starting ${id}`);
      const starting = startService(id, spec, context);
      running.set(id, starting);
      // A failed start is not kept, nor a server that ended on its own: the next scenario starts it anew.
      const forget = () => {
        if (running.get(id) === starting) running.delete(id);
      };
      starting.then((started) => started.exited.then(forget), forget);
      service = starting;
    }
    return service;
  },
  log: (line) => log(`  ${line}`),
};

async function stopServicesNotNeededAfter(index: number): Promise<void> {
  const later = new Set(
    scenarios
      .slice(index + 1)
      .flatMap(servicesOf)
      .flatMap(withStartDependencies),
  );
  for (const [id, service] of running) {
    if (later.has(id)) continue;
    running.delete(id);
    await service.then((s) => s.stop()).catch(() => {});
  }
}

// -------------------------------------------------------------------------------------------- scenarios

function compareAnswers(
  scenario: Extract<Scenario, { kind: 'load' }>,
  outcome: LoadOutcome,
  outcomes: Outcome[],
): LoadOutcome['sameAnswer'] {
  const spec = scenario.sameAnswerAs;
  if (!spec) return undefined;
  const other = outcomes.find((o): o is LoadOutcome => o.kind === 'load' && o.id === spec.scenario);
  if (!other || outcome.samples.firstData === undefined || other.samples.firstData === undefined) return undefined;
  try {
    const mine = (spec.project ?? ((d) => d))(outcome.samples.firstData);
    const theirs = (spec.projectOther ?? ((d) => d))(other.samples.firstData);
    const equal = isDeepStrictEqual(mine, theirs);
    return {
      scenario: spec.scenario,
      equal,
      detail: equal ? undefined : `${JSON.stringify(mine).slice(0, 400)} ≠ ${JSON.stringify(theirs).slice(0, 400)}`,
    };
  } catch (error) {
    return {
      scenario: spec.scenario,
      equal: false,
      detail: `could not compare: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}

async function runScenario(scenario: Scenario, outcomes: Outcome[], notes: string[] = []): Promise<Outcome> {
  if (scenario.kind === 'probe') {
    const report = await scenario.run({
      service: (id) => context.service(id),
      database: async (id) => prepared(id),
      log: (line) => log(`    ${line}`),
    });
    for (const row of report.rows) log(`    ${row.label}: ${row.value}`);
    for (const problem of report.problems) log(`    problem: ${problem}`);
    return { kind: 'probe', id: scenario.id, title: scenario.title, ...report } satisfies ProbeOutcome;
  }
  const service = await context.service(scenario.service);
  const sequence = scenario.vary?.(prepared(databaseOf(scenario.service)).days);
  let gone: string | undefined;
  void service.exited.then((how) => {
    gone = how;
  });
  const result = await runLoad(
    {
      baseUrl: service.url,
      request: scenario.request,
      ...(sequence ? { sequence } : {}),
      check: scenario.check,
      expectCacheHit: scenario.expectCacheHit,
      expectCacheMiss: scenario.expectCacheMiss,
      serverGone: () => gone,
    },
    options.load,
    (line) => log(line),
    (stop) => {
      stopLoad = stop;
    },
  );
  const outcome: LoadOutcome = {
    kind: 'load',
    id: scenario.id,
    title: scenario.title,
    service: scenario.service,
    serviceDescription: service.describe,
    serviceNotes: [
      ...service.notes,
      ...notes,
      ...(sequence && sequence.sent() > sequence.capacity
        ? [
            `${sequence.sent().toLocaleString('en-US')} requests from ${sequence.capacity.toLocaleString('en-US')} distinct ones: some repeated`,
          ]
        : []),
    ],
    request: scenario.request,
    ...(sequence ? { varies: sequence.describe } : {}),
    expectCacheHit: scenario.expectCacheHit === true,
    expectCacheMiss: scenario.expectCacheMiss === true,
    ...result,
  };
  outcome.sameAnswer = compareAnswers(scenario, outcome, outcomes);
  for (const problem of result.samples.problems) log(`    problem: ${problem}`);
  if (outcome.sameAnswer && !outcome.sameAnswer.equal)
    log(`    answer differs from ${outcome.sameAnswer.scenario}: ${outcome.sameAnswer.detail}`);
  log(
    `    median: ${result.median.reqPerSec.toFixed(1)} req/s, p50 ${result.median.p50Ms.toFixed(2)} ms, ` +
      `p99 ${result.median.p99Ms.toFixed(2)} ms, ${result.errors} errors${result.samples.cache !== 'absent' ? `, cache ${result.samples.cache}` : ''}`,
  );
  return outcome;
}

// ------------------------------------------------------------------------------------------------- main

async function main(): Promise<number> {
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  const startedAt = new Date();
  log(`PostgreSQL at ${new URL(adminUrl!).host}`);
  const postgres = await readServerVersion(adminUrl!);
  const neededServices = scenarios.flatMap(servicesOf);
  if (neededServices.some((id) => catalogue.services[id]?.kind === 'postgraphile'))
    await ensurePostgraphileInstalled(context);

  // All databases before any load, so that seeding never overlaps a measurement.
  for (const id of databasesOf(neededServices)) {
    const spec = catalogue.databases.find((db) => db.id === id)!;
    databases.set(
      id,
      await prepareDatabase(spec, {
        adminUrl: adminUrl!,
        repoRoot,
        logDir,
        fresh: options.fresh,
        parameters: { seed: options.seed, until: options.until },
        log: (line) => log(line),
      }),
    );
  }

  const outcomes: Outcome[] = [];
  for (const [index, scenario] of scenarios.entries()) {
    log(`${scenario.id}: ${scenario.title}`);
    try {
      try {
        outcomes.push(await runScenario(scenario, outcomes));
      } catch (error) {
        // On a shared machine a server may be killed from outside; one more try, on a fresh one, and said so.
        if (!(error instanceof ServerGoneError)) throw error;
        log(`    ${error.message}: restarting it and running ${scenario.id} again`);
        outcomes.push(await runScenario(scenario, outcomes, [`second try: ${error.message} in the first`]));
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log(`    FAILED: ${message}`);
      outcomes.push({ kind: 'failed', id: scenario.id, title: scenario.title, error: message });
    }
    await stopServicesNotNeededAfter(index);
  }
  const redisInfo = redis ? await redis : undefined;
  await redisInfo?.stop();

  const index: OutcomeIndex = {
    all: outcomes,
    load: (id) => outcomes.find((o): o is LoadOutcome => o.kind === 'load' && o.id === id),
    probe: (id) => outcomes.find((o): o is ProbeOutcome => o.kind === 'probe' && o.id === id),
  };
  const results: RunResults = {
    startedAt: startedAt.toISOString(),
    durationSeconds: Math.round((performance.now() - runStarted) / 1000),
    partial: options.only !== undefined,
    machine: describeMachine(repoRoot, postgres, redisInfo?.version ?? null),
    settings: { ...options.load, seed: options.seed, until: options.until, cacheTtlSeconds: options.cacheTtlSeconds },
    redis: redisInfo?.describe ?? null,
    databases: [...databases.values()].map(({ url, ...db }) => ({ ...db, host: new URL(url).host })),
    // The sampled answers themselves served the checks; results.json keeps the measurements.
    outcomes: outcomes.map((o) => (o.kind === 'load' ? { ...o, samples: { ...o.samples, firstData: undefined } } : o)),
    targets: catalogue.targets.map((target) => ({
      id: target.id,
      label: target.label,
      verdict: target.evaluate(index) ?? null,
    })),
  };
  const base = options.only ? 'results.partial' : 'results';
  const markdownFile = path.join(benchDir, options.only ? 'results.partial.md' : 'RESULTS.md');
  writeFileSync(path.join(benchDir, `${base}.json`), `${JSON.stringify(results, null, 2)}\n`);
  // Sections written by other benchmarks (bench/subscriptions.ts) stay in RESULTS.md.
  const previous = existsSync(markdownFile) ? readFileSync(markdownFile, 'utf8') : '';
  writeFileSync(markdownFile, keepSections(previous, renderResults(results, catalogue)));
  log(`wrote ${path.relative(repoRoot, markdownFile)} and bench/${base}.json`);
  for (const target of results.targets) {
    const mark = target.verdict === null ? '➖' : target.verdict.ok ? '✅' : '❌';
    console.log(`  ${mark} ${target.label}: ${target.verdict?.actual ?? 'not measured'}`);
  }
  return outcomes.some((o) => o.kind === 'failed') ? 1 : 0;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  console.error(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  await Promise.all([...running.values()].map((service) => service.then((s) => s.stop()).catch(() => {})));
  await stopAll();
}
process.exit(exitCode);
