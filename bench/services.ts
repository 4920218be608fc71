import { existsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, LOOPBACK, redisCommand, send, waitUntil, type GraphQLRequest } from './http.js';
import { runCommand, startProcess, tailOf, type Supervised } from './processes.js';
import { StatementCounter } from './statement-counter.js';

// The servers a scenario can put load on, and how each one starts. All of them are child processes on
// loopback ports picked at start, so a run never collides with a gateway a developer has running.

export type ServiceSpec =
  | {
      kind: 'gateway';
      /** Which bench database it serves (a DatabaseSpec id). */
      database: string;
      /** `off`: CACHE_TTL_SECONDS=0; `on`: a TTL and REDIS_URL (the in-process LRU when no Redis is to be had). */
      cache: 'off' | 'on';
      /** Routes its PostgreSQL traffic through a StatementCounter, so probes can count statements. */
      countStatements?: boolean;
      /** REDIS_URL even with the cache off: rate budgets then live in Redis, as in a deployment. */
      redis?: boolean;
      /** Extra environment, e.g. for authentication variants. */
      env?: Record<string, string>;
    }
  | {
      kind: 'ceiling';
      /** The service and request whose response bytes the ceiling serves. */
      bodyFrom: { service: string; request: GraphQLRequest };
    }
  | { kind: 'postgraphile'; database: string };

export interface RunningService {
  id: string;
  /** Base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  /** What it is, in a few words, for the report. */
  describe: string;
  statements?: StatementCounter;
  notes: string[];
  /** Settles, with how, when the process ends (on its own or through stop()). */
  exited: Promise<string>;
  stop(): Promise<void>;
}

const howItEnded = (proc: Supervised) =>
  proc.exited.then((status) => (typeof status === 'number' ? `exit code ${status}` : `signal ${status}`));

/** What starting a service may need from the run. */
export interface ServiceContext {
  repoRoot: string;
  logDir: string;
  cacheTtlSeconds: number;
  database(id: string): Promise<{ url: string; name: string }>;
  /** A Redis URL for a gateway with the cache on (a logical database per bench database), or undefined. */
  redis(database: string): Promise<string | undefined>;
  service(id: string): Promise<RunningService>;
  log(line: string): void;
}

/** Settings the benchmark owns; anything like them inherited from the shell would skew a run. */
const GATEWAY_VARIABLES = [
  'NODE_ENV',
  'HOST',
  'PORT',
  'LOG_LEVEL',
  'DATABASE_URL',
  'DATA_DIR',
  'EMBEDDED_SEED_TRANSACTIONS',
  'REPORT_TIMEZONE',
  'HEALTH_TIMEOUT_MS',
  'CURSOR_SECRET',
  'REDIS_URL',
];
const GATEWAY_PREFIXES = [
  'PG_',
  'CACHE_',
  'BENCH_',
  'TEST_',
  'AUTH_',
  'JWT_',
  'RATE_LIMIT_',
  'QUERY_',
  'AUDIT_',
  'CORS_',
  'SUBSCRIPTION_',
  'SUBSCRIPTIONS_',
  'SHUTDOWN_',
];

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (GATEWAY_VARIABLES.includes(name) || GATEWAY_PREFIXES.some((prefix) => name.startsWith(prefix)))
      delete env[name];
  }
  return env;
}

async function failWithLog(proc: Supervised, error: unknown): Promise<never> {
  await proc.stop();
  const message = error instanceof Error ? error.message : String(error);
  throw new Error(`${message}; the end of ${proc.logFile}:\n${tailOf(proc.logFile)}`);
}

async function answersGraphQL(url: string): Promise<boolean> {
  const { status } = await send(url, { query: '{ __typename }' }, 2_000);
  return status === 200;
}

/**
 * A gateway as a child process on a free loopback port, started as production starts it (`node dist/main.js`, which
 * the npm scripts build first), with the benchmark's settings over a clean environment, once it answers /healthz.
 * Used by `npm run bench` and `bench:subscriptions`.
 */
export async function startGatewayProcess(
  id: string,
  settings: { databaseUrl: string; env?: Record<string, string> },
  where: { repoRoot: string; logDir: string },
): Promise<{ proc: Supervised; url: string; port: number }> {
  const port = await freePort();
  const proc = startProcess(id, {
    command: process.execPath,
    args: ['--enable-source-maps', 'dist/main.js'],
    cwd: where.repoRoot,
    env: {
      ...cleanEnv(),
      DATABASE_URL: settings.databaseUrl,
      HOST: LOOPBACK,
      PORT: String(port),
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
      REPORT_TIMEZONE: 'UTC',
      CACHE_TTL_SECONDS: '0',
      // Load from one client would spend any realistic budget in a second; variants that measure the
      // limiter set a budget it never reaches.
      RATE_LIMIT_POINTS: '0',
      ...settings.env,
    },
    logDir: where.logDir,
  });
  const url = `http://${LOOPBACK}:${port}`;
  // Two minutes: a gateway may have work to do on start (rebuilding rollups for another time zone, say).
  await waitUntil(
    id,
    async () => (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) })).status === 200,
    { timeoutMs: 120_000, exited: proc.exited },
  ).catch((error: unknown) => failWithLog(proc, error));
  return { proc, url, port };
}

async function startGateway(
  id: string,
  spec: Extract<ServiceSpec, { kind: 'gateway' }>,
  ctx: ServiceContext,
): Promise<RunningService> {
  const database = await ctx.database(spec.database);
  const redisUrl = spec.cache === 'on' || spec.redis ? await ctx.redis(spec.database) : undefined;
  const target = new URL(database.url);
  const counter = spec.countStatements
    ? await StatementCounter.start({ host: target.hostname || 'localhost', port: Number(target.port || 5432) })
    : undefined;
  const { proc, url } = await startGatewayProcess(
    id,
    {
      databaseUrl: counter ? counter.proxiedUrl(database.url) : database.url,
      env: {
        ...(spec.cache === 'on' ? { CACHE_TTL_SECONDS: String(ctx.cacheTtlSeconds) } : {}),
        ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
        ...spec.env,
      },
    },
    ctx,
  ).catch(async (error: unknown) => {
    await counter?.close();
    throw error;
  });
  const notes: string[] = [];
  if (spec.cache === 'on' && !redisUrl) notes.push('no Redis to be had: the gateway used its in-process LRU');
  return {
    id,
    url,
    describe: `gateway on ${database.name}, cache ${spec.cache === 'on' ? `on (TTL ${ctx.cacheTtlSeconds} s, ${redisUrl ? 'Redis' : 'LRU'})` : 'off'}`,
    statements: counter,
    notes,
    exited: howItEnded(proc),
    async stop() {
      await proc.stop();
      await counter?.close();
    },
  };
}

async function startCeiling(
  id: string,
  spec: Extract<ServiceSpec, { kind: 'ceiling' }>,
  ctx: ServiceContext,
): Promise<RunningService> {
  const source = await ctx.service(spec.bodyFrom.service);
  const response = await send(source.url, spec.bodyFrom.request);
  if (response.status !== 200)
    throw new Error(`${spec.bodyFrom.service} answered ${response.status}; the ceiling needs its 200 body`);
  const bodyFile = path.join(ctx.logDir, `${id}-body.json`);
  writeFileSync(bodyFile, response.bytes);
  const port = await freePort();
  const proc = startProcess(id, {
    command: process.execPath,
    args: ['--import', 'tsx', 'bench/ceiling-server.ts'],
    cwd: ctx.repoRoot,
    env: { ...cleanEnv(), BODY_FILE: bodyFile, CONTENT_TYPE: response.contentType, HOST: LOOPBACK, PORT: String(port) },
    logDir: ctx.logDir,
  });
  const url = `http://${LOOPBACK}:${port}`;
  await waitUntil(id, () => answersGraphQL(url), { timeoutMs: 30_000, exited: proc.exited }).catch((error: unknown) =>
    failWithLog(proc, error),
  );
  return {
    id,
    url,
    describe: `bare node:http returning the ${response.bytes.length}-byte dashboard response of ${source.id}`,
    notes: [],
    exited: howItEnded(proc),
    stop: () => proc.stop(),
  };
}

/** The peer's folder; installed with `npm ci` when its lockfile is newer than what is installed. */
export function postgraphileDir(repoRoot: string): string {
  return path.join(repoRoot, 'bench', 'postgraphile');
}

export function postgraphileNode(repoRoot: string): string {
  return path.join(postgraphileDir(repoRoot), 'node_modules', '.bin', 'node');
}

let installation: Promise<void> | undefined;

export function ensurePostgraphileInstalled(ctx: Pick<ServiceContext, 'repoRoot' | 'logDir' | 'log'>): Promise<void> {
  installation ??= (async () => {
    const dir = postgraphileDir(ctx.repoRoot);
    const installed = path.join(dir, 'node_modules', '.package-lock.json');
    const upToDate =
      existsSync(installed) &&
      existsSync(postgraphileNode(ctx.repoRoot)) &&
      statSync(installed).mtimeMs >= statSync(path.join(dir, 'package-lock.json')).mtimeMs;
    if (upToDate) return;
    ctx.log('installing the peer (npm ci --prefix bench/postgraphile: PostGraphile 5 and Node 22)');
    await runCommand('postgraphile-install', {
      command: 'npm',
      args: ['ci', '--prefix', dir, '--no-audit', '--no-fund'],
      cwd: ctx.repoRoot,
      env: process.env,
      logDir: ctx.logDir,
    });
  })();
  return installation;
}

async function startPostgraphile(
  id: string,
  spec: Extract<ServiceSpec, { kind: 'postgraphile' }>,
  ctx: ServiceContext,
): Promise<RunningService> {
  const [database] = await Promise.all([ctx.database(spec.database), ensurePostgraphileInstalled(ctx)]);
  const port = await freePort();
  const proc = startProcess(id, {
    command: postgraphileNode(ctx.repoRoot),
    args: ['server.mjs'],
    cwd: postgraphileDir(ctx.repoRoot),
    env: { ...cleanEnv(), DATABASE_URL: database.url, HOST: LOOPBACK, PORT: String(port), NODE_ENV: 'production' },
    logDir: ctx.logDir,
  });
  const url = `http://${LOOPBACK}:${port}`;
  await waitUntil(id, () => answersGraphQL(url), { timeoutMs: 60_000, exited: proc.exited }).catch((error: unknown) =>
    failWithLog(proc, error),
  );
  return {
    id,
    url,
    describe: `PostGraphile 5 (Amber preset, Node 22) over the plain views of bench_plain in ${database.name}`,
    notes: [],
    exited: howItEnded(proc),
    stop: () => proc.stop(),
  };
}

export function startService(id: string, spec: ServiceSpec, ctx: ServiceContext): Promise<RunningService> {
  switch (spec.kind) {
    case 'gateway':
      return startGateway(id, spec, ctx);
    case 'ceiling':
      return startCeiling(id, spec, ctx);
    case 'postgraphile':
      return startPostgraphile(id, spec, ctx);
  }
}

/**
 * A Redis for the cache-on gateways, best first: BENCH_REDIS_URL when set; else a private, empty
 * redis-server on a free port when the binary is installed (so no earlier run's entries and nobody
 * else's data are involved); else one answering on 127.0.0.1:6379; else none (the gateway's LRU).
 */
export async function provideRedis(
  ctx: Pick<ServiceContext, 'logDir' | 'repoRoot' | 'log'>,
  explicitUrl: string | undefined,
): Promise<{
  url: string | undefined;
  describe: string;
  version?: string;
  stop(): Promise<void>;
}> {
  const versionOf = async (url: string) =>
    /redis_version:([^\r\n]+)/.exec(await redisCommand(url, ['INFO', 'server']))?.[1];
  if (explicitUrl) {
    const reply = await redisCommand(explicitUrl, ['PING']);
    if (!reply.includes('PONG')) throw new Error(`BENCH_REDIS_URL does not answer PING: ${reply.trim()}`);
    return {
      url: explicitUrl,
      describe: 'BENCH_REDIS_URL',
      version: await versionOf(explicitUrl),
      stop: async () => {},
    };
  }
  const port = await freePort();
  const proc = startProcess('redis', {
    command: 'redis-server',
    args: ['--bind', LOOPBACK, '--port', String(port), '--save', '', '--appendonly', 'no', '--databases', '16'],
    cwd: ctx.repoRoot,
    env: process.env,
    logDir: ctx.logDir,
  });
  const privateUrl = `redis://${LOOPBACK}:${port}`;
  try {
    await waitUntil('redis-server', async () => (await redisCommand(privateUrl, ['PING'])).includes('PONG'), {
      timeoutMs: 10_000,
      exited: proc.exited,
    });
    return {
      url: privateUrl,
      describe: `private redis-server on port ${port}`,
      version: await versionOf(privateUrl),
      stop: () => proc.stop(),
    };
  } catch {
    await proc.stop();
  }
  const shared = `redis://${LOOPBACK}:6379`;
  if ((await redisCommand(shared, ['PING']).catch(() => '')).includes('PONG')) {
    return {
      url: shared,
      describe: 'the Redis on 127.0.0.1:6379',
      version: await versionOf(shared),
      stop: async () => {},
    };
  }
  ctx.log('no Redis: the cache-on gateways use their in-process LRU');
  return { url: undefined, describe: 'none (in-process LRU)', stop: async () => {} };
}
