import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { queryLogger, type DatabaseHandle, type DatabaseOptions } from './database-handle.js';
import type { Database } from './database.js';
import { listenOnPostgres, trackListeners } from './postgres-listener.js';
import { runStatements, type StatementPool } from './statement-runner.js';
import { KEEP_AS_TEXT, identity } from './text-types.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_STATEMENT_TIMEOUT_MS, withTimeout } from './timeouts.js';

// The PostgreSQL connector: a pool of node-postgres sessions, each started with the settings a report needs, sending
// statements through the statement runner; LISTEN on a session of its own.

export const APPLICATION_NAME = 'marketpulse';

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
        // eslint-disable-next-line @typescript-eslint/no-unsafe-return -- node-postgres types its parsers as any
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
