import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';

/** Where a developer's Redis usually listens; used when TEST_REDIS_URL is unset and it answers. */
const LOCAL_REDIS = 'redis://127.0.0.1:6379';

/**
 * Tests that start the gateway or a command as a process of its own run the compiled dist/, as production
 * does: it is brought up to date once per run, before any test file starts.
 */
function buildDist() {
  const result = spawnSync(process.execPath, ['scripts/build.js'], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`npm run build failed:\n${result.stdout}${result.stderr}`);
}

/**
 * Builds dist/, then decides which PostgreSQL and which Redis the suite runs against, once per run.
 *
 * PostgreSQL: TEST_DATABASE_URL when set; else a throwaway container when a Docker engine answers; else the
 * embedded PGlite. Redis: TEST_REDIS_URL when set; else a local one on the default port when it answers; else
 * none, and the tests that need one skip, saying so. With CI=true a missing real PostgreSQL or Redis fails the
 * run instead of falling back.
 */
export default async function setup(project: TestProject) {
  buildDist();
  const ci = process.env.CI === 'true';
  project.provide('redisUrl', await chooseRedis(ci));
  const fromEnv = process.env.TEST_DATABASE_URL;
  if (fromEnv) {
    project.provide('databaseUrl', fromEnv);
    return;
  }
  try {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:16-alpine').start();
    project.provide('databaseUrl', container.getConnectionUri());
    return async () => {
      await container.stop();
    };
  } catch (error) {
    if (ci) {
      throw new Error(
        `CI=true needs a real PostgreSQL: set TEST_DATABASE_URL or run a Docker engine (${String(error)})`,
      );
    }
    console.warn(
      'No TEST_DATABASE_URL and no Docker engine: database tests run on the embedded PGlite; the few that need a ' +
        'PostgreSQL server (a second session, another process on the same database) are skipped, each file saying why.',
    );
    project.provide('databaseUrl', '');
  }
}

async function chooseRedis(ci: boolean): Promise<string> {
  // A configured Redis is used as it is: if it does not answer, the tests that need it fail and say so.
  const fromEnv = process.env.TEST_REDIS_URL;
  if (fromEnv) return fromEnv;
  if (ci) throw new Error('CI=true needs a Redis: set TEST_REDIS_URL');
  if (await answers(LOCAL_REDIS)) return LOCAL_REDIS;
  console.warn(
    `No TEST_REDIS_URL and no Redis answers at ${LOCAL_REDIS}: the tests that need a Redis are skipped, each file ` +
      'saying why; the caches in process and the rate budgets counted in process are still tested.',
  );
  return '';
}

async function answers(url: string): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL of the PostgreSQL server under test; empty for the embedded PGlite. */
    databaseUrl: string;
    /** The Redis under test; empty when there is none. */
    redisUrl: string;
  }
}
