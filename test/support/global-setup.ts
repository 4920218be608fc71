import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

/**
 * Tests that start the gateway or a command as a process of its own run the compiled dist/, as production
 * does: it is brought up to date once per run, before any test file starts.
 */
function buildDist() {
  const result = spawnSync(process.execPath, ['scripts/build.js'], { cwd: fileURLToPath(new URL('../../', import.meta.url)), encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`npm run build failed:\n${result.stdout}${result.stderr}`);
}

/**
 * Builds dist/, then decides which PostgreSQL the suite runs against, once per run:
 * TEST_DATABASE_URL when set; else a throwaway container when a Docker engine answers; else the embedded
 * PGlite. With CI=true a missing real PostgreSQL fails the run instead of silently falling back.
 */
export default async function setup(project: TestProject) {
  buildDist();
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
    if (process.env.CI === 'true') {
      throw new Error(`CI=true needs a real PostgreSQL: set TEST_DATABASE_URL or run a Docker engine (${String(error)})`);
    }
    console.warn('No TEST_DATABASE_URL and no Docker engine: database tests run on the embedded PGlite.');
    project.provide('databaseUrl', '');
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL of the PostgreSQL server under test; empty for the embedded PGlite. */
    databaseUrl: string;
  }
}
