import type { TestProject } from 'vitest/node';

/**
 * Decides which PostgreSQL the suite runs against, once per run:
 * TEST_DATABASE_URL when set; else a throwaway container when a Docker engine answers; else the embedded
 * PGlite. With CI=true a missing real PostgreSQL fails the run instead of silently falling back.
 */
export default async function setup(project: TestProject) {
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
