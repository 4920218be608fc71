import { Kysely, PostgresDialect, sql, type LogEvent } from 'kysely';
import pg from 'pg';
import type { Database } from './database.js';

export type Engine = 'postgres' | 'pglite';

export interface DatabaseOptions {
  /** IANA zone that decides what a report day is; read by SQL through mp_report_timezone(). */
  reportTimezone: string;
  poolMax?: number;
  connectTimeoutMs?: number;
  statementTimeoutMs?: number;
  /** Called with the SQL of every statement Kysely runs (tests count statements per request). */
  onQuery?: (sql: string) => void;
  onError?: (error: unknown) => void;
}

export interface DatabaseHandle {
  db: Kysely<Database>;
  engine: Engine;
  /**
   * Runs a multi-statement SQL script through `db` (which may be a transaction). node-postgres sends a
   * parameterless query with the simple protocol, which accepts many statements; PGlite needs exec().
   */
  runScript(db: Kysely<Database>, script: string): Promise<void>;
  /** Resolves when the database answers `SELECT 1` within `timeoutMs`, rejects otherwise. */
  ping(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

// OIDs whose text form we keep as is: int8 (ids, counts), numeric (money), date (report days).
const KEEP_AS_TEXT = new Set([20, 1700, 1082]);
const identity = (value: string) => value;

function logger(options: DatabaseOptions) {
  const { onQuery, onError } = options;
  if (!onQuery && !onError) return undefined;
  return (event: LogEvent) => {
    if (event.level === 'query') onQuery?.(event.query.sql);
    else onError?.(event.error);
  };
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function connectPostgres(connectionString: string, options: DatabaseOptions): DatabaseHandle {
  const settings = [
    `-c marketpulse.report_timezone=${options.reportTimezone}`,
    '-c TimeZone=UTC',
    `-c statement_timeout=${options.statementTimeoutMs ?? 30_000}`,
  ];
  const pool = new pg.Pool({
    connectionString,
    max: options.poolMax ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    options: settings.join(' '),
    application_name: 'marketpulse',
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        KEEP_AS_TEXT.has(oid) ? identity : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', (error) => options.onError?.(error));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log: logger(options) });
  return {
    db,
    engine: 'postgres',
    runScript: async (target, script) => {
      await sql.raw(script).execute(target);
    },
    ping: async (timeoutMs) => {
      await withTimeout(pool.query('SELECT 1'), timeoutMs, 'PostgreSQL');
    },
    close: () => db.destroy(),
  };
}

/**
 * Opens the embedded PostgreSQL (PGlite). `dataDir` persists it on disk; without one it lives in memory.
 * PGlite is a single session, so the report settings are set once for the whole life of the handle.
 */
export async function openEmbedded(dataDir: string | undefined, options: DatabaseOptions): Promise<DatabaseHandle> {
  // Loaded on demand: kysely-pglite pulls in a code generator that costs seconds to import, and a gateway on
  // a real PostgreSQL never needs either package.
  const [{ PGlite }, { KyselyPGlite }] = await Promise.all([import('@electric-sql/pglite'), import('kysely-pglite')]);
  const parsers = Object.fromEntries([...KEEP_AS_TEXT].map((oid) => [oid, identity]));
  const client = await PGlite.create({ ...(dataDir ? { dataDir } : {}), parsers });
  await client.query(`SELECT set_config('marketpulse.report_timezone', $1, false)`, [options.reportTimezone]);
  await client.exec(`SET TimeZone = 'UTC'`);
  const db = new Kysely<Database>({ dialect: new KyselyPGlite(client).dialect, log: logger(options) });
  return {
    db,
    engine: 'pglite',
    runScript: async (_target, script) => {
      await client.exec(script);
    },
    ping: async (timeoutMs) => {
      await withTimeout(client.query('SELECT 1'), timeoutMs, 'PGlite');
    },
    close: () => db.destroy(),
  };
}
