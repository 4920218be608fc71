import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { print } from 'graphql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_CURSOR_SECRET } from '../../src/config/config.js';
import type { DatabaseHandle } from '../../src/db/database-handle.js';
import { connectPostgres } from '../../src/db/postgres-connector.js';
import { expectedDashboard } from '../correctness/expected.js';
import { CorrectnessDashboardDocument } from '../generated/graphql.js';
import { freePort } from '../support/child-processes.js';
import { environmentOf, parseCompose, serviceOf } from './compose-file.js';

// The image as it ships: built from the Dockerfile, migrated and seeded with its own one-shot commands, then run
// against the test PostgreSQL (host networking) and stopped the way Docker stops it. Needs a Docker engine and a
// node:20-bookworm-slim base (pulled, or made by deploy/stand-in-base-image.sh where no registry answers); where
// either is missing the test says why and skips, except with CI=true, where it must run.

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const TAG = 'marketpulse:image-test';
const BASE = 'node:20-bookworm-slim';
const SHUTDOWN_DELAY_MS = 3_000;
const inCi = process.env.CI === 'true';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function docker(args: string[], timeoutMs = 60_000): Promise<Run> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args, { cwd: repoRoot, timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr, ms: Math.round(performance.now() - started) }));
  });
}

async function dockerOk(args: string[], timeoutMs?: number): Promise<string> {
  const run = await docker(args, timeoutMs);
  if (run.code !== 0)
    throw new Error(
      `docker ${args.join(' ')} exited ${run.code}:\n${run.stdout.slice(-4_000)}\n${run.stderr.slice(-4_000)}`,
    );
  return run.stdout.trim();
}

const engineAnswers =
  spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 15_000 }).status === 0;
const databaseUrl = inject('databaseUrl');
const skipReason = !engineAnswers
  ? 'no Docker engine answers `docker info`'
  : !databaseUrl
    ? 'the suite runs on the embedded PGlite, and the image needs a PostgreSQL it can reach'
    : undefined;
if (skipReason && !inCi) console.warn(`test/deploy/image.test.ts skipped: ${skipReason}.`);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(skipReason !== undefined && !inCi)('the image', () => {
  const name = `mp_image_${randomBytes(5).toString('hex')}`;
  let url: string;
  let handle: DatabaseHandle | undefined;
  let port: number;
  let gateway: string;

  // Environment of every container: host networking, the test database, the report zone the expectation uses.
  const runArgs = () => ['--network', 'host', '-e', `DATABASE_URL=${url}`, '-e', 'REPORT_TIMEZONE=UTC'];

  beforeAll(async () => {
    if (skipReason) throw new Error(`CI=true needs the image test to run, but ${skipReason}`);
    if ((await docker(['image', 'inspect', BASE])).code !== 0) {
      console.warn(
        `${BASE} is not there; docker build pulls it (where no registry answers: bash deploy/stand-in-base-image.sh).`,
      );
    }
    const build = await docker(['build', '--network', 'host', '--tag', TAG, '.'], 15 * 60_000);
    console.log(`docker build: ${(build.ms / 1000).toFixed(1)} s`);
    if (build.code !== 0)
      throw new Error(
        `docker build exited ${build.code}:\n${build.stdout.slice(-6_000)}\n${build.stderr.slice(-4_000)}`,
      );

    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    const parsed = new URL(databaseUrl);
    parsed.pathname = `/${name}`;
    url = parsed.toString();

    const migrate = await docker([
      'run',
      '--rm',
      ...runArgs(),
      TAG,
      'node',
      '--enable-source-maps',
      'dist/cli/migrate.js',
    ]);
    expect(migrate.code, migrate.stderr).toBe(0);
    expect(migrate.stdout).toMatch(/applied \d+ migration\(s\)/);
    const seed = await docker([
      'run',
      '--rm',
      ...runArgs(),
      TAG,
      'node',
      '--enable-source-maps',
      'dist/cli/seed.js',
      '--transactions',
      '3000',
    ]);
    expect(seed.code, seed.stderr).toBe(0);
    handle = connectPostgres(url, { reportTimezone: 'UTC' });

    port = await freePort();
    gateway = await dockerOk([
      'run',
      '--detach',
      ...runArgs(),
      '-e',
      'HOST=127.0.0.1',
      '-e',
      `PORT=${port}`,
      '-e',
      `SHUTDOWN_DELAY_MS=${SHUTDOWN_DELAY_MS}`,
      '-e',
      'LOG_LEVEL=warn',
      // The image's own check, probed every second rather than every 15 s so that the test does not wait.
      '--health-interval',
      '1s',
      TAG,
    ]);
  }, 20 * 60_000);

  afterAll(async () => {
    if (gateway) await docker(['rm', '--force', gateway]);
    await handle?.close();
    if (!url) return;
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  });

  const endpoint = (path: string) => `http://127.0.0.1:${port}${path}`;
  const dashboardQuery = print(CorrectnessDashboardDocument);
  const askDashboard = () =>
    fetch(endpoint('/graphql'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: dashboardQuery, variables: { limit: 5, days: 30 } }),
    });

  it('holds production dependencies, dist/ and the files read at run time only', async () => {
    const [imageSize, baseSize] = await Promise.all([
      dockerOk(['image', 'inspect', '--format', '{{.Size}}', TAG]),
      dockerOk(['image', 'inspect', '--format', '{{.Size}}', BASE]),
    ]);
    const overMb = (Number(imageSize) - Number(baseSize)) / 1e6;
    console.log(`image: ${(Number(imageSize) / 1e6).toFixed(1)} MB, ${overMb.toFixed(1)} MB over ${BASE}`);
    expect((await dockerOk(['run', '--rm', TAG, 'ls', '/app'])).split('\n')).toEqual([
      'dist',
      'node_modules',
      'package.json',
      'schema',
      'sql',
    ]);
    const devTools = await dockerOk([
      'run',
      '--rm',
      '--workdir',
      '/app/node_modules',
      TAG,
      'sh',
      '-c',
      'ls -d tsx typescript vitest @swc/core 2>/dev/null || true',
    ]);
    expect(devTools).toBe('');
  });

  it('runs node itself as the container main process, as the unprivileged node user (uid 1000)', async () => {
    expect(await dockerOk(['inspect', '--format', '{{.Config.User}}', gateway])).toBe('node');
    const status = await dockerOk(['exec', gateway, 'cat', '/proc/1/status']);
    expect(status).toMatch(/^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
    const commandLine = (await dockerOk(['exec', gateway, 'cat', '/proc/1/cmdline'])).split('\0').filter(Boolean);
    expect(commandLine).toEqual(['node', '--enable-source-maps', 'dist/main.js']);
  });

  it('turns healthy through its own HEALTHCHECK', async () => {
    const check = JSON.parse(
      await dockerOk(['image', 'inspect', '--format', '{{json .Config.Healthcheck.Test}}', TAG]),
    ) as string[];
    expect(check.join(' ')).toContain('/healthz');
    const deadline = Date.now() + 90_000;
    let status = '';
    while (Date.now() < deadline) {
      status = await dockerOk(['inspect', '--format', '{{.State.Health.Status}}', gateway]);
      if (status === 'healthy' || status === 'unhealthy') break;
      await sleep(500);
    }
    if (status !== 'healthy') console.error((await docker(['logs', gateway])).stderr.slice(-4_000));
    expect(status).toBe('healthy');
  }, 120_000);

  it('serves the dashboard figures that plain SQL computes over the seeded tables', async () => {
    const response = await askDashboard();
    const body = (await response.json()) as { data?: { dashboard: unknown }; errors?: unknown };
    expect(body.errors).toBeUndefined();
    expect(response.status).toBe(200);
    const expected = await expectedDashboard(handle!.db, 'UTC', {}, { limit: 5, days: 30 });
    expect(Number(expected.totalRevenue)).toBeGreaterThan(0);
    expect(body.data?.dashboard).toEqual(expected);
  });

  it('drains on docker stop: /readyz answers 503 for SHUTDOWN_DELAY_MS while queries are still served, then exits 0', async () => {
    const readyBefore = await fetch(endpoint('/readyz'));
    expect(readyBefore.status).toBe(200);

    const stopRequested = performance.now();
    const stopping = docker(['stop', '--time', '30', gateway], 60_000);
    const at = () => Math.round(performance.now() - stopRequested);
    const timeline: string[] = ['0 ms: docker stop'];
    let firstNotReady: number | undefined;
    let servedWhileDraining = 0;
    let stopped = false;
    void stopping.then(() => (stopped = true));
    while (!stopped) {
      const probe = await fetch(endpoint('/readyz')).catch(() => undefined);
      if (probe?.status === 503) {
        firstNotReady ??= at();
        const answer = await askDashboard().catch(() => undefined);
        if (answer?.status === 200 && !((await answer.json()) as { errors?: unknown }).errors) servedWhileDraining += 1;
      } else if (!probe && firstNotReady !== undefined) {
        timeline.push(`${at()} ms: port closed`);
        break;
      }
      await sleep(50);
    }
    const stop = await stopping;
    if (firstNotReady !== undefined) timeline.splice(1, 0, `${firstNotReady} ms: first /readyz 503`);
    timeline.push(`${stop.ms} ms: docker stop returned`);
    const exit = JSON.parse(await dockerOk(['inspect', '--format', '{{json .State}}', gateway])) as {
      ExitCode: number;
      OOMKilled: boolean;
    };
    console.log(
      `docker stop timeline (SHUTDOWN_DELAY_MS=${SHUTDOWN_DELAY_MS}): ${timeline.join('; ')}; ${servedWhileDraining} dashboard queries served after /readyz turned 503; exit code ${exit.ExitCode}`,
    );

    expect(stop.code, stop.stderr).toBe(0);
    expect(exit.ExitCode).toBe(0);
    expect(firstNotReady).toBeDefined();
    expect(firstNotReady!).toBeLessThan(1_000);
    expect(servedWhileDraining).toBeGreaterThan(0);
    // It waited out the delay rather than dying at the signal, and was not killed at docker stop's timeout.
    expect(stop.ms).toBeGreaterThanOrEqual(SHUTDOWN_DELAY_MS);
    expect(stop.ms).toBeLessThan(25_000);
  }, 60_000);
});

// Debian's docker-compose 1.29 or the docker compose plugin, whichever is installed.
const composeCommand = [['docker-compose'], ['docker', 'compose']].find(
  ([command, ...args]) => spawnSync(command!, [...args, 'version'], { stdio: 'ignore', timeout: 15_000 }).status === 0,
);
if (!composeCommand && !inCi)
  console.warn(
    'test/deploy/image.test.ts: docker-compose.yml not validated: neither docker-compose nor docker compose is installed.',
  );

/** Runs `compose --file docker-compose.yml <args>` with the shell's variables and `env` on top; fails unless it exits 0. */
function composeOk(args: string[], env: Record<string, string | undefined> = {}): string {
  if (!composeCommand)
    throw new Error('CI=true needs docker-compose (or the docker compose plugin) to validate docker-compose.yml');
  const [command, ...base] = composeCommand;
  const result = spawnSync(command!, [...base, '--file', 'docker-compose.yml', ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  expect(result.status, result.stderr).toBe(0);
  return result.stdout;
}

describe.skipIf(!composeCommand && !inCi)('docker-compose.yml', () => {
  it('is accepted by docker-compose config', () => {
    composeOk(['config', '--quiet']);
  });

  it('is accepted by docker-compose config with the scaled profile, which lists the balanced pair', () => {
    composeOk(['--profile', 'scaled', 'config', '--quiet']);
    const listed = composeOk(['--profile', 'scaled', 'config', '--services']).split('\n').filter(Boolean);
    expect(listed).toEqual(expect.arrayContaining(['gateway', 'gateway-1', 'gateway-2', 'loadbalancer']));
  });

  // What Compose itself makes of the anchors, merge keys and substitutions the text tests read.
  it("resolves both scaled gateways to one CURSOR_SECRET from the environment, and to trusting the balancer's address", () => {
    const resolved = (cursorSecret: string | undefined) =>
      parseCompose(composeOk(['--profile', 'scaled', 'config'], { CURSOR_SECRET: cursorSecret }));
    const secret = `s3cret-${randomBytes(8).toString('hex')}`;
    for (const [given, expected] of [
      [secret, secret],
      [undefined, DEFAULT_CURSOR_SECRET],
    ] as const) {
      const config = resolved(given);
      const [one, two] = [environmentOf(serviceOf(config, 'gateway-1')), environmentOf(serviceOf(config, 'gateway-2'))];
      expect(one.CURSOR_SECRET).toBe(expected);
      expect(two.CURSOR_SECRET).toBe(expected);
      const balancer = serviceOf(config, 'loadbalancer').networks as Record<string, { ipv4_address?: string }>;
      expect(one.TRUST_PROXY).toBe(balancer.balancer?.ipv4_address);
      expect(two).toEqual(one);
      // The default gateway is what it was: its own settings, no proxy trusted, no shutdown delay.
      const gateway = environmentOf(serviceOf(config, 'gateway'));
      expect(gateway.TRUST_PROXY).toBeUndefined();
      expect(gateway.SHUTDOWN_DELAY_MS).toBe('0');
      expect(one.DATABASE_URL).toBe(gateway.DATABASE_URL);
      expect(one.REDIS_URL).toBe(gateway.REDIS_URL);
    }
  });
});
