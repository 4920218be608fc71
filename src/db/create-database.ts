import { createHash } from 'node:crypto';
import { Kysely, PostgresDialect, sql, type LogEvent, type PostgresPool, type PostgresPoolClient } from 'kysely';
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
  /** Called after every statement on PostgreSQL with its prepared-statement name and duration (metrics). */
  onStatement?: (name: string, seconds: number) => void;
  /**
   * The label of whatever is being served now (the request id), put in the session's application_name when
   * a pooled connection is checked out, so that pg_stat_activity and the server's logs name the request.
   */
  sessionLabel?: () => string | undefined;
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

/** `promise`, or a rejection naming `what` once `timeoutMs` pass without an answer. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const RECONNECT_BASE_MS = 100;
const RECONNECT_MAX_MS = 5_000;
// The defaults of PG_CONNECT_TIMEOUT_MS and PG_STATEMENT_TIMEOUT_MS, for handles opened without them (tests, tools).
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;

/**
 * LISTEN on a dedicated pg.Client, not a pooled one: the pool recycles idle connections, and a notification
 * is only delivered to the session that listens. The connection is re-made with capped exponential backoff
 * whenever it drops (a restart, a failover, pg_terminate_backend).
 */
async function listenOnPostgres(
  connectionString: string,
  options: DatabaseOptions,
  channel: string,
  onPayload: (payload: string) => void,
  events: ListenEvents = {},
): Promise<Unlisten> {
  let current: pg.Client | undefined;
  let stopped = false;
  let failures = 0;
  let retry: NodeJS.Timeout | undefined;
  const dropped = new WeakSet<pg.Client>();

  const drop = (client: pg.Client, error: unknown) => {
    if (dropped.has(client)) return;
    dropped.add(client);
    if (current === client) current = undefined;
    client.end().catch(() => undefined);
    if (stopped) return;
    events.onConnectionError?.(error);
    const delay = Math.min(RECONNECT_BASE_MS * 2 ** failures, RECONNECT_MAX_MS);
    failures += 1;
    retry = setTimeout(() => void connect(), delay);
  };

  const connect = async () => {
    retry = undefined;
    const client = new pg.Client({
      connectionString,
      connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      application_name: 'marketpulse-listener',
      // A peer that vanishes without closing the socket is noticed by TCP keepalive, not by an idle LISTEN.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    client.on('notification', (message) => {
      if (message.channel === channel && message.payload !== undefined) onPayload(message.payload);
    });
    client.on('error', (error) => drop(client, error));
    client.on('end', () => drop(client, new Error('the listening connection was closed')));
    try {
      await client.connect();
      await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
    } catch (error) {
      drop(client, error);
      return;
    }
    if (stopped || dropped.has(client)) {
      dropped.add(client);
      await client.end().catch(() => undefined);
      return;
    }
    current = client;
    failures = 0;
    events.onListening?.();
  };

  await connect();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    const client = current;
    current = undefined;
    if (client) {
      dropped.add(client);
      await client.end().catch(() => undefined);
    }
  };
}

/** Unlistens whatever is still listening when the handle closes, so that no session outlives it. */
function trackListeners() {
  const active = new Set<Unlisten>();
  return {
    add(unlisten: Unlisten): Unlisten {
      const once = async () => {
        if (active.delete(once)) await unlisten();
      };
      active.add(once);
      return once;
    },
    closeAll: () => Promise.all([...active].map((unlisten) => unlisten())).then(() => undefined),
  };
}

/** `mp_<relation>_<hash>`: stable for a statement text, and readable as a metric label or in pg_prepared_statements. */
export function statementName(text: string): string {
  const relation = /\bfrom\s+"?([a-z_][a-z0-9_]*)"?/i.exec(text)?.[1] ?? 'query';
  // PostgreSQL truncates identifiers at 63 bytes; the hash keeps truncated names apart.
  return `mp_${relation.slice(0, 40)}_${createHash('sha1').update(text).digest('hex').slice(0, 12)}`;
}

const APPLICATION_NAME = 'marketpulse';

/** The statement failed because its session is gone: terminated, shut down, or the connection dropped. */
function isSessionLost(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && /^(08|57P0[1-3])/.test(code)) return true;
  return error instanceof Error && /Connection terminated|connection is closed|not queryable|Query read timeout/i.test(error.message);
}

/**
 * Runs every parameterised statement as a named prepared statement (named after its text), so each pooled
 * session parses and plans a report query once instead of on every request. The gateway's statements are a
 * small fixed set, so the per-session cache stays small. Parameterless scripts (migrations) run as they are.
 * A migration that changes a view's columns makes sessions that prepared against the old shape fail until the
 * pool replaces them, so restart gateways after such a migration (as one would for new code anyway).
 *
 * The request id reaches PostgreSQL as the session's application_name, set when a connection is checked out
 * for another request than the one it last served. A SQL comment in the statement would be free of round
 * trips, but a named statement's text is sent once per session, so the comment pg_stat_activity showed would
 * be that of the request that first prepared it; one `set_config` per checkout is the cheapest correct way.
 */
function preparing(pool: pg.Pool, options: DatabaseOptions): PostgresPool {
  const named = new Map<string, string>();
  const nameOf = (text: string) => {
    let name = named.get(text);
    if (!name) {
      name = statementName(text);
      named.set(text, name);
    }
    return name;
  };
  const labels = new WeakMap<pg.PoolClient, string>();
  const { onStatement, sessionLabel } = options;
  const timed = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    if (!onStatement) return run();
    const started = performance.now();
    try {
      return await run();
    } finally {
      onStatement(name, (performance.now() - started) / 1000);
    }
  };
  const guarded = new WeakSet<pg.PoolClient>();
  return {
    connect: async () => {
      const client = await pool.connect();
      // The pool listens for errors on idle clients only. A checked-out client whose backend is terminated
      // emits 'error' once its query has failed; unheard, that would crash the process.
      if (!guarded.has(client)) {
        guarded.add(client);
        client.on('error', (error) => options.onError?.(error));
      }
      // A client whose statement failed because its session ended goes back to the pool destroyed, not idle,
      // so that the next request does not get a dead connection before the pool notices.
      let broken = false;
      const watch = <T>(run: Promise<T>): Promise<T> =>
        run.catch((error: unknown) => {
          if (isSessionLost(error)) broken = true;
          throw error;
        });
      const label = sessionLabel?.();
      if (label !== undefined && labels.get(client) !== label) {
        try {
          await client.query('SELECT set_config($1, $2, false)', ['application_name', `${APPLICATION_NAME} ${label}`]);
          labels.set(client, label);
        } catch (error) {
          client.release(error instanceof Error ? error : true);
          throw error;
        }
      }
      return {
        // Parameterless statements (scripts, DDL) are timed under the name they would have, but sent as they are
        // and not remembered.
        query: ((text: string, values: unknown[]) => {
          if (values.length === 0) return watch(timed(statementName(text), () => client.query(text)));
          const name = nameOf(text);
          return watch(timed(name, () => client.query({ name, text, values })));
        }) as unknown as PostgresPoolClient['query'],
        release: (destroy?: boolean) => client.release(destroy || broken),
      };
    },
    end: () => pool.end(),
  };
}

export function connectPostgres(connectionString: string, options: DatabaseOptions): DatabaseHandle {
  const statementTimeoutMs = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const settings = [
    `-c marketpulse.report_timezone=${options.reportTimezone}`,
    '-c TimeZone=UTC',
    `-c statement_timeout=${statementTimeoutMs}`,
    // The report queries read small rollups; JIT compiling them costs hundreds of milliseconds and saves nothing.
    '-c jit=off',
  ];
  const pool = new pg.Pool({
    connectionString,
    max: options.poolMax ?? 10,
    // Both the wait for a new connection and the wait for a pooled one when all are in use.
    connectionTimeoutMillis: connectTimeoutMs,
    // PostgreSQL cancels a statement at statement_timeout itself; this client-side limit is for a server or a
    // network that stops answering mid-statement, which would otherwise hold the request (and the connection)
    // for as long as TCP takes to give up. The connection is then destroyed (isSessionLost).
    ...(statementTimeoutMs > 0 ? { query_timeout: statementTimeoutMs + connectTimeoutMs } : {}),
    options: settings.join(' '),
    application_name: APPLICATION_NAME,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        KEEP_AS_TEXT.has(oid) ? identity : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', (error) => options.onError?.(error));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: preparing(pool, options) }), log: logger(options) });
  const listeners = trackListeners();
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
      listeners.add(await listenOnPostgres(connectionString, options, channel, onPayload, events)),
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: async () => {
      await listeners.closeAll();
      await db.destroy();
    },
  };
}

/**
 * Opens the embedded PostgreSQL (PGlite). `dataDir` persists it on disk; without one it lives in memory.
 * PGlite is a single session, so the report settings are set once for the whole life of the handle.
 */
export async function openEmbedded(dataDir: string | undefined, options: DatabaseOptions): Promise<DatabaseHandle> {
  // Loaded on demand: kysely-pglite pulls in a code generator that costs seconds to import, and a gateway on
  // a real PostgreSQL never needs either package.
  const [{ PGlite }, { pgliteDialect }] = await Promise.all([import('@electric-sql/pglite'), import('./pglite-dialect.js')]);
  const parsers = Object.fromEntries([...KEEP_AS_TEXT].map((oid) => [oid, identity]));
  const client = await PGlite.create({ ...(dataDir ? { dataDir } : {}), parsers });
  await client.query(`SELECT set_config('marketpulse.report_timezone', $1, false)`, [options.reportTimezone]);
  await client.exec(`SET TimeZone = 'UTC'`);
  const db = new Kysely<Database>({ dialect: pgliteDialect(client), log: logger(options) });
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
