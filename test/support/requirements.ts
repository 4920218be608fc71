import { inject } from 'vitest';

// Most of the suite runs anywhere: on the embedded PGlite and without Redis. A few tests need more (a second
// session on the same database, another process sharing it, a Redis shared by gateways). On a machine without
// it they skip, and say why on the console; under CI=true nothing may be missing (test/support/global-setup.ts
// already fails the run then, and this checks again).

export type Requirement = 'postgres-server' | 'redis';

const MISSING: Record<Requirement, { unmet: () => boolean; why: string }> = {
  'postgres-server': {
    unmet: () => !inject('databaseUrl'),
    why: 'needs a PostgreSQL server, and the suite runs on the embedded PGlite here (set TEST_DATABASE_URL or start a Docker engine)',
  },
  redis: {
    unmet: () => !inject('redisUrl'),
    why: 'needs a Redis, and none answers here (set TEST_REDIS_URL or run one on 127.0.0.1:6379)',
  },
};

/**
 * Whether `requirement` is met, for `describe.runIf` and `it.runIf`. When it is not, prints which tests skip
 * and why (`what` names them, e.g. 'killing the listener's session'); under CI=true it throws instead.
 */
export function has(requirement: Requirement, what: string): boolean {
  const { unmet, why } = MISSING[requirement];
  if (!unmet()) return true;
  const message = `skipped: ${what} ${why}`;
  if (process.env.CI === 'true') throw new Error(`CI=true runs every test, but ${message}`);
  console.warn(message);
  return false;
}
