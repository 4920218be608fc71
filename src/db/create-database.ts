import { Kysely, PostgresDialect, sql, type LogEvent } from 'kysely';
import pg from 'pg';
import type { Database } from './database.js';
import { listenOnPostgres, trackListeners } from './postgres-listener.js';
import { runStatements, type StatementPool } from './statement-runner.js';

export type Engine = 'postgres' | 'pglite';

export interface DatabaseOptions {
  /**
   * The report zone every session must report in, stated when a connection to PostgreSQL starts, so that
   * PostgreSQL itself refuses (MP001) to answer from rollups of another zone. Not sent through a pooler, which
   * refuses start-up settings: there sessions report in the database's zone, and the gateway checks that zone
   * (report-zone.ts). Unset: the database's zone.
   */
  reportTimezone?: string;
  poolMax?: number;
  connectTimeoutMs?: number;
  /** PostgreSQL cancels a statement past this; 0: never. */
  statementTimeoutMs?: number;
  /**
   * The URL leads to a pooler in transaction mode (PgBouncer), not to PostgreSQL: no start-up settings are sent
   * (PgBouncer refuses them, others drop them), and the statement timeout is kept with cancel requests, which a
   * pooler forwards to the server session running the statement.
   */
  pooled?: boolean;
  /** Named prepared statements (default); false sends unnamed ones, for PgBouncer before 1.21. */
  preparedStatements?: boolean;
  /** Where LISTEN connects, on a session of its own: a direct URL of PostgreSQL. The pool's URL by default. */
  listenUrl?: string;
  /** Called with the SQL of every statement Kysely runs (tests count statements per request). */
  onQuery?: (sql: string) => void;
  onError?: (error: unknown) => void;
  /** Called after every statement on PostgreSQL with its prepared-statement name and duration (metrics). */
  onStatement?: (name: string, seconds: number) => void;
  /** The id of the request being served now, sent to PostgreSQL with each of its statements (statement-runner.ts). */
  requestLabel?: () => string | undefined;
}

export interface PoolStats {
  /** Open connections, idle ones included. */
  total: number;
  idle: number;
  /** Callers queued for a connection. */
  waiting: number;
}

export interface ListenEvents {
  /**
   * LISTEN took effect: on the first connection and again after every reconnection. Notifications sent while
   * disconnected are lost for good, so this is the moment to re-read whatever they announce.
   */
  onListening?(): void;
  /** The listening connection failed or dropped; the handle reconnects by itself, with backoff. */
  onConnectionError?(error: unknown): void;
}

/** Stops listening; resolves once the channel is released. */
export type Unlisten = () => Promise<void>;

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
  /**
   * Calls `onPayload` with the payload of every NOTIFY on `channel`, on a session of its own that survives the
   * pool. Resolves after the first attempt to listen, whether it succeeded or not: a database that is down
   * at start-up is retried in the background and reported through `events`, never thrown.
   */
  listen(channel: string, onPayload: (payload: string) => void, events?: ListenEvents): Promise<Unlisten>;
  /** The connection pool's counts (PostgreSQL only; PGlite is one in-process session). */
  poolStats?(): PoolStats;
  /** The pool `db` runs its statements through (PostgreSQL only), for a router that sends some of them elsewhere. */
  statements?: StatementPool;
  close(): Promise<void>;
}

// OIDs whose text form we keep as is: int8 (ids, counts), numeric (money), date (report days).
const KEEP_AS_TEXT = new Set([20, 1700, 1082]);
const identity = (value: string) => value;

/** Kysely's log for `onQuery` and `onError`, when either is given. */
export function queryLogger(options: Pick<DatabaseOptions, 'onQuery' | 'onError'>) {
  const { onQuery, onError } = options;
  if (!onQuery && !onError) return undefined;
  return (event: LogEvent) => {
    if (event.level === 'query') onQuery?.(event.query.sql);
    else onError?.(event.error);
  };
}

/** `promise`, or a rejection naming `what` once `timeoutMs` pass without an answer. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// The defaults of PG_CONNECT_TIMEOUT_MS and PG_STATEMENT_TIMEOUT_MS, for handles opened without them (tests, tools).
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;

const APPLICATION_NAME = 'marketpulse';

/**
 * What a session needs set, as start-up settings of a direct connection (PostgreSQL applies them to the session
 * before its first statement, at no cost): the statement timeout, JIT off, and the report zone when one is
 * required. Nothing here depends on TimeZone: report days take their zone from mp_report_timezone(), and
 * instants leave PostgreSQL as UTC text or with their offset.
 */
export function startupSettings(options: Pick<DatabaseOptions, 'reportTimezone' | 'statementTimeoutMs'>): string {
  const settings = [
    `-c statement_timeout=${options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS}`,
    // The report queries read small rollups; JIT compiling them costs hundreds of milliseconds and saves nothing.
    '-c jit=off',
  ];
  if (options.reportTimezone !== undefined) settings.push(`-c marketpulse.report_timezone=${options.reportTimezone}`);
  return settings.join(' ');
}

/** A node-postgres pool and the statement runner over it, set up as DatabaseOptions say. */
export interface PostgresPools {
  pool: pg.Pool;
  statements: StatementPool;
}

/**
 * The pool every PostgreSQL the gateway reads connects through: the primary's, and each read replica's, so
 * that what a session and a statement get (start-up settings or cancel requests, prepared statements, the
 * request id) is the same wherever a statement runs.
 */
export function openPostgresPools(connectionString: string, options: DatabaseOptions = {}): PostgresPools {
  const statementTimeoutMs = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const pooled = options.pooled ?? false;
  const pool = new pg.Pool({
    connectionString,
    max: options.poolMax ?? 10,
    // Both the wait for a new connection and the wait for a pooled one when all are in use.
    connectionTimeoutMillis: connectTimeoutMs,
    // PostgreSQL cancels a statement at its timeout; this client-side limit is for a server or a network that
    // stops answering mid-statement, which would otherwise hold the request (and the connection) for as long as
    // TCP takes to give up. The connection is then destroyed (statement-runner.ts).
    ...(statementTimeoutMs > 0 ? { query_timeout: statementTimeoutMs + connectTimeoutMs } : {}),
    ...(pooled ? {} : { options: startupSettings({ ...options, statementTimeoutMs }) }),
    application_name: APPLICATION_NAME,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        KEEP_AS_TEXT.has(oid) ? identity : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', (error) => options.onError?.(error));
  const statements = runStatements(pool, {
    preparedStatements: options.preparedStatements ?? true,
    cancelAfterMs: pooled ? statementTimeoutMs : 0,
    connectTimeoutMs,
    ...(options.onStatement ? { onStatement: options.onStatement } : {}),
    ...(options.onError ? { onError: options.onError } : {}),
    ...(options.requestLabel ? { requestLabel: options.requestLabel } : {}),
  });
  return { pool, statements };
}

export function connectPostgres(connectionString: string, options: DatabaseOptions = {}): DatabaseHandle {
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const { pool, statements } = openPostgresPools(connectionString, options);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: statements }), log: queryLogger(options) });
  const listeners = trackListeners();
  const listenUrl = options.listenUrl ?? connectionString;
  return {
    db,
    engine: 'postgres',
    runScript: async (target, script) => {
      await sql.raw(script).execute(target);
    },
    ping: async (timeoutMs) => {
      await withTimeout(pool.query('SELECT 1'), timeoutMs, 'PostgreSQL');
    },
    listen: async (channel, onPayload, events) =>
      listeners.add(await listenOnPostgres(listenUrl, connectTimeoutMs, channel, onPayload, events)),
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    statements,
    close: async () => {
      await listeners.closeAll();
      await db.destroy();
    },
  };
}

/**
 * Opens the embedded PostgreSQL (PGlite). `dataDir` persists it on disk; without one it lives in memory.
 * PGlite is a single session, which reports in the database's zone like any other; PGlite does not apply the
 * database's settings when it starts, so the zone is taken from the database here (once migrated).
 */
export async function openEmbedded(dataDir: string | undefined, options: Pick<DatabaseOptions, 'onQuery' | 'onError'> = {}): Promise<DatabaseHandle> {
  // Loaded on demand: kysely-pglite pulls in a code generator that costs seconds to import, and a gateway on
  // a real PostgreSQL never needs either package.
  const [{ PGlite }, { pgliteDialect }] = await Promise.all([import('@electric-sql/pglite'), import('./pglite-dialect.js')]);
  const parsers = Object.fromEntries([...KEEP_AS_TEXT].map((oid) => [oid, identity]));
  const client = await PGlite.create({ ...(dataDir ? { dataDir } : {}), parsers });
  await client.exec(`DO $$ BEGIN
    IF to_regprocedure('mp_restore_session_report_zone()') IS NOT NULL THEN PERFORM mp_restore_session_report_zone(); END IF;
  END $$`);
  const db = new Kysely<Database>({ dialect: pgliteDialect(client), log: queryLogger(options) });
  const listeners = trackListeners();
  return {
    db,
    engine: 'pglite',
    runScript: async (_target, script) => {
      await client.exec(script);
    },
    ping: async (timeoutMs) => {
      await withTimeout(client.query('SELECT 1'), timeoutMs, 'PGlite');
    },
    // In process there is no connection to lose: one LISTEN lasts as long as the database.
    listen: async (channel, onPayload, events) => {
      const unlisten = await client.listen(channel, onPayload);
      events?.onListening?.();
      return listeners.add(() => unlisten());
    },
    close: async () => {
      await listeners.closeAll();
      await db.destroy();
    },
  };
}
