import { z } from 'zod';
import {
  isTimeZone,
  maskPassword,
  nonNegativeInt,
  optionalUrl,
  positiveInt,
  type Parsed,
  type Variables,
} from './variables.js';

const optionalPostgresUrl = optionalUrl.refine((url) => url === undefined || /^postgres(ql)?:/.test(url), {
  message: 'must be a postgres:// or postgresql:// URL',
});

// Comma-separated PostgreSQL URLs; every malformed entry is named in one problem (passwords masked).
const postgresUrlList = z
  .string()
  .optional()
  .transform((value, context) => {
    const entries = (value ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean);
    const malformed = entries.filter((entry) => !/^postgres(ql)?:\/\/./.test(entry) || !URL.canParse(entry));
    if (malformed.length > 0) {
      const shown = malformed.map(
        (entry) => `'${URL.canParse(entry) ? maskPassword(entry) : entry.replace(/:[^:@/]*@/, ':***@')}'`,
      );
      context.addIssue({
        code: 'custom',
        message: `must be a comma-separated list of postgres:// or postgresql:// URLs; not one: ${shown.join(', ')}`,
      });
      return z.NEVER;
    }
    return entries;
  });

/** PostgreSQL (or, without DATABASE_URL, the embedded database), its pool and statements, and the report days. */
export const databaseVariables = {
  DATABASE_URL: optionalPostgresUrl,
  // A direct (unpooled) URL of the same database, for what needs a session of its own: the change listener,
  // migrations, the rollups and the other commands. Unset: DATABASE_URL.
  DATABASE_DIRECT_URL: optionalPostgresUrl,
  // Streaming replicas of DATABASE_URL's database that report reads go to (src/db/read-replicas.ts).
  DATABASE_READ_URL: postgresUrlList,
  // How long a report read may wait for a replica to replay the current data version before it goes to the primary.
  READ_REPLICA_MAX_WAIT_MS: nonNegativeInt.default(0),
  // false: unnamed statements, for PgBouncer before 1.21 in transaction mode.
  PG_PREPARED_STATEMENTS: z
    .enum(['true', 'false', ''])
    .optional()
    .transform((value) => value !== 'false'),
  DATA_DIR: z.string().min(1).default('.data'),
  EMBEDDED_SEED_TRANSACTIONS: positiveInt.default(10_000),
  REPORT_TIMEZONE: z
    .string()
    .default('UTC')
    .refine(isTimeZone, { message: 'must be an IANA time zone name such as UTC or Asia/Jerusalem' }),
  PG_POOL_MAX: positiveInt.default(10),
  PG_CONNECT_TIMEOUT_MS: positiveInt.default(5_000),
  PG_STATEMENT_TIMEOUT_MS: positiveInt.default(30_000),
} satisfies Variables;

/** How the gateway reaches PostgreSQL: DATABASE_URL, perhaps through a pooler, and a direct URL for sessions. */
export interface PostgresConnection {
  url: string;
  /** DATABASE_DIRECT_URL, or DATABASE_URL when it is not set. */
  directUrl: string;
  /**
   * DATABASE_URL leads to a pooler: a DATABASE_DIRECT_URL other than it says so. A transaction pooler keeps no
   * session for a client, so the listener needs a direct URL anyway: a pooler without one cannot serve the gateway.
   */
  pooled: boolean;
  /** DATABASE_READ_URL: streaming replicas for report reads, each reached like `url` (directly, or through a pooler). */
  readUrls: string[];
}

export function databaseConfig(env: Parsed<typeof databaseVariables>) {
  const directUrl = env.DATABASE_DIRECT_URL ?? env.DATABASE_URL;
  const postgres: PostgresConnection | undefined =
    env.DATABASE_URL && directUrl
      ? {
          url: env.DATABASE_URL,
          directUrl,
          pooled: directUrl !== env.DATABASE_URL,
          readUrls: env.DATABASE_READ_URL,
        }
      : undefined;
  return {
    /** The PostgreSQL of DATABASE_URL; undefined for the embedded database. */
    postgres,
    /** How long a report read may wait for a replica to catch up before it goes to the primary. */
    readReplicaMaxWaitMs: env.READ_REPLICA_MAX_WAIT_MS,
    /** Named prepared statements (PG_PREPARED_STATEMENTS); the embedded database always has them. */
    preparedStatements: env.PG_PREPARED_STATEMENTS,
    /** Where the embedded database keeps its files. */
    dataDir: env.DATA_DIR,
    embeddedSeedTransactions: env.EMBEDDED_SEED_TRANSACTIONS,
    reportTimezone: env.REPORT_TIMEZONE,
    poolMax: env.PG_POOL_MAX,
    connectTimeoutMs: env.PG_CONNECT_TIMEOUT_MS,
    statementTimeoutMs: env.PG_STATEMENT_TIMEOUT_MS,
  };
}

export type DatabaseConfig = ReturnType<typeof databaseConfig>;

/** What contradicts itself among the database variables. */
export function databaseProblems(given: (name: string) => boolean): string[] {
  const problems: string[] = [];
  if (given('DATABASE_DIRECT_URL') && !given('DATABASE_URL')) {
    problems.push(
      'DATABASE_DIRECT_URL: only used with DATABASE_URL, which is not set (the embedded database has no URL)',
    );
  }
  if (given('DATABASE_READ_URL') && !given('DATABASE_URL')) {
    problems.push(
      'DATABASE_READ_URL: only used with DATABASE_URL, which is not set (the embedded database has no replicas)',
    );
  }
  return problems;
}

/** What the one-shot data commands (seed, ingest, rollups) read: the database, nothing else. */
export interface ToolEnvironment {
  /** DATABASE_DIRECT_URL when set (the commands run long statements, on sessions of their own), else DATABASE_URL. */
  databaseUrl: string | undefined;
}

/**
 * The environment of a one-shot data command. Only the database's URLs, and unvalidated here: the commands
 * check them and answer with their own usage errors, and a server setting they never use (a bad JWT_SECRET,
 * say) must not stop an ETL job.
 */
export function readToolEnvironment(env: NodeJS.ProcessEnv = process.env): ToolEnvironment {
  return { databaseUrl: env.DATABASE_DIRECT_URL?.trim() || env.DATABASE_URL?.trim() || undefined };
}
