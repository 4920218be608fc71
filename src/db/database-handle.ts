import type { Kysely, LogEvent } from 'kysely';
import type { Database } from './database.js';
import type { StatementPool } from './statement-runner.js';

// What the rest of the gateway holds of a database, whichever engine runs it: the handle, its options, and the
// log of the statements Kysely runs.

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

/** Kysely's log for `onQuery` and `onError`, when either is given. */
export function queryLogger(options: Pick<DatabaseOptions, 'onQuery' | 'onError'>) {
  const { onQuery, onError } = options;
  if (!onQuery && !onError) return undefined;
  return (event: LogEvent) => {
    if (event.level === 'query') onQuery?.(event.query.sql);
    else onError?.(event.error);
  };
}
