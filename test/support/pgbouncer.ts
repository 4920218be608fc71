import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import {
  failure,
  findExecutable,
  findOsUser,
  HarnessUnavailableError,
  makeTempDir,
  onAFreePort,
  runningAsRoot,
  startServer,
  StopWaiting,
  waitFor,
  type OsUser,
  type ServerProcess,
} from './child-processes.js';

// A throwaway PgBouncer on a free port of 127.0.0.1 in front of a given PostgreSQL, the way production runs it:
// transaction pooling, so a session's state (SET, LISTEN, session advisory locks, named prepared statements) does
// not survive from one transaction to the next.

const DEFAULT_BINARY = '/usr/sbin/pgbouncer';

export interface PgBouncerOptions {
  /** The PostgreSQL server behind PgBouncer, as a URL: its host, port and user are used, its database is not. */
  server: string;
  poolMode?: 'transaction' | 'session' | 'statement';
  /** Server connections per database and user. Small, so that tests see clients share them. */
  poolSize?: number;
  maxClientConnections?: number;
  /** Users allowed to log in (auth_file); the server URL's user is always one. */
  users?: string[];
  /**
   * Startup parameters PgBouncer accepts from a client and drops instead of refusing the connection. Dropped
   * means lost: PgBouncer 1.18 neither forwards them nor replays them on the server connection a transaction
   * gets. The default, `extra_float_digits` only, is what common drivers send (pgjdbc, many ORMs) and only
   * changes how floats print. `options` is left out on purpose: dropping it would silently drop every `-c`
   * setting in it (a report time zone, a statement timeout), so a client that relies on it is refused
   * ("unsupported startup parameter: options") instead of running with the wrong settings.
   */
  ignoreStartupParameters?: string[];
  /** max_prepared_statements (PgBouncer 1.21+ only; starting an older one with it fails). */
  maxPreparedStatements?: number;
  /**
   * Database entries besides the wildcard one (which serves any database name, such as the suite's `mp_test_*`
   * databases, with the same name on the server): alias -> connection settings, e.g.
   * `{ reports: 'dbname=mp_test_1 pool_size=2' }`. host and port default to the server's.
   */
  databases?: Record<string, string>;
  /** More [pgbouncer] settings, written last (they win). */
  settings?: Record<string, string | number>;
  /** The binary; PGBOUNCER or /usr/sbin/pgbouncer by default. */
  binary?: string;
}

export interface PgBouncer {
  readonly host: string;
  readonly port: number;
  /** e.g. "1.18.0" */
  readonly version: string;
  /** Milliseconds from the call to start until PgBouncer accepted connections. */
  readonly startupMs: number;
  readonly pid: number;
  /** The temp dir with its configuration. */
  readonly directory: string;
  /** A URL of a database through PgBouncer. */
  url(database: string, user?: string): string;
  /** Runs a command on the admin console (database `pgbouncer`) and returns its rows. */
  admin(command: string): Promise<Record<string, unknown>[]>;
  showPools(): Promise<Record<string, unknown>[]>;
  showServers(): Promise<Record<string, unknown>[]>;
  showClients(): Promise<Record<string, unknown>[]>;
  /** PgBouncer's recent log. */
  log(): string;
  stop(): Promise<void>;
}

function binaryOf(options: { binary?: string }): string {
  return options.binary ?? process.env.PGBOUNCER ?? DEFAULT_BINARY;
}

/** PgBouncer refuses to run as root; as root it is started with `-u <user>` and drops to that user. */
function runAsUser(): OsUser | undefined {
  return runningAsRoot ? (findOsUser('postgres') ?? findOsUser('nobody')) : undefined;
}

/** Why PgBouncer cannot be started here, or undefined when it can. */
export function pgbouncerUnavailable(options: { binary?: string } = {}): string | undefined {
  const binary = binaryOf(options);
  if (!findExecutable(binary)) return `no PgBouncer binary at ${binary} (Debian: apt-get install pgbouncer)`;
  if (runningAsRoot && !runAsUser())
    return 'running as root, and neither a postgres nor a nobody user to run PgBouncer as';
  return undefined;
}

/** The version of the PgBouncer binary, e.g. "1.18.0". */
export function pgbouncerVersion(options: { binary?: string } = {}): string {
  const result = spawnSync(binaryOf(options), ['--version'], { encoding: 'utf8' });
  const match = /PgBouncer (\d+\.\d+(?:\.\d+)?)/.exec(`${result.stdout}${result.stderr}`);
  if (!match) throw failure(`cannot read the version of ${binaryOf(options)}`, `${result.stdout}${result.stderr}`);
  return match[1]!;
}

function atLeast(version: string, major: number, minor: number): boolean {
  const [a = 0, b = 0] = version.split('.').map(Number);
  return a > major || (a === major && b >= minor);
}

function quote(value: string): string {
  return `"${value.replaceAll('"', '""')}"`;
}

export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  const began = performance.now();
  const unavailable = pgbouncerUnavailable(options);
  if (unavailable) throw new HarnessUnavailableError(unavailable);
  const binary = binaryOf(options);
  const version = pgbouncerVersion(options);
  if (options.maxPreparedStatements !== undefined && !atLeast(version, 1, 21)) {
    throw new Error(`max_prepared_statements needs PgBouncer 1.21 or later; ${binary} is ${version}`);
  }
  const server = new URL(options.server);
  const serverHost = server.hostname || '127.0.0.1';
  const serverPort = Number(server.port || 5432);
  const serverUser = decodeURIComponent(server.username) || 'postgres';
  const users = [...new Set([serverUser, ...(options.users ?? [])])];
  const user = runAsUser();
  const dir = makeTempDir('mp-pgbouncer-', user);

  const settings: Record<string, string | number> = {
    listen_addr: '127.0.0.1',
    // No Unix socket: its default path (/tmp/.s.PGSQL.<port>) would be one more thing to collide on.
    unix_socket_dir: '',
    auth_type: 'trust',
    auth_file: path.join(dir.path, 'users.txt'),
    admin_users: serverUser,
    stats_users: serverUser,
    pool_mode: options.poolMode ?? 'transaction',
    default_pool_size: options.poolSize ?? 4,
    min_pool_size: 0,
    reserve_pool_size: 0,
    max_client_conn: options.maxClientConnections ?? 200,
    ignore_startup_parameters: (options.ignoreStartupParameters ?? ['extra_float_digits']).join(','),
    // After a failed server login PgBouncer waits server_login_retry (15 s by default) before trying again;
    // tests that stop and start a server want it back within a second.
    server_login_retry: 1,
    server_connect_timeout: 5,
    // A client waiting longer than this for a server connection gets an error, instead of a test hanging.
    query_wait_timeout: 30,
    log_connections: 1,
    log_disconnections: 1,
    log_pooler_errors: 1,
    ...(options.maxPreparedStatements !== undefined ? { max_prepared_statements: options.maxPreparedStatements } : {}),
    ...options.settings,
  };
  await writeFile(path.join(dir.path, 'users.txt'), users.map((name) => `${quote(name)} ""\n`).join(''), {
    mode: 0o644,
  });

  const target = `host=${serverHost} port=${serverPort}`;
  const databases = Object.entries(options.databases ?? {}).map(([alias, entry]) => {
    const withServer = /\bhost=/.test(entry) ? entry : `${target} ${entry}`;
    return `${alias} = ${withServer}`;
  });

  const { port, running } = await onAFreePort(async (port): Promise<{ port: number; running: ServerProcess }> => {
    const config = [
      '[databases]',
      ...databases,
      `* = ${target}`,
      '',
      '[pgbouncer]',
      `listen_port = ${port}`,
      ...Object.entries(settings).map(([key, value]) => `${key} = ${value}`),
      '',
    ].join('\n');
    const configFile = path.join(dir.path, 'pgbouncer.ini');
    await writeFile(configFile, config, { mode: 0o644 });
    const started = startServer(binary, [...(user ? ['-u', user.name] : []), configFile], { cwd: dir.path });
    try {
      await waitFor(
        `PgBouncer to listen on 127.0.0.1:${port}`,
        async () => {
          if (started.hasExited())
            throw new StopWaiting(failure(`PgBouncer ${await started.exited}`, started.output.tail()));
          return started.output.includes('process up');
        },
        { timeoutMs: 10_000, intervalMs: 20, explain: () => started.output.tail() },
      );
    } catch (error) {
      await started.stop('SIGKILL');
      throw error;
    }
    return { port, running: started };
  }).catch(async (error: unknown) => {
    await dir.remove();
    throw error;
  });
  const host = '127.0.0.1';

  async function admin(command: string): Promise<Record<string, unknown>[]> {
    // The admin console speaks only the simple query protocol, which pg uses for a query without parameters.
    const client = new pg.Client({
      host,
      port,
      user: serverUser,
      database: 'pgbouncer',
      connectionTimeoutMillis: 5_000,
    });
    await client.connect();
    try {
      const result = await client.query(command);
      return result.rows as Record<string, unknown>[];
    } finally {
      await client.end();
    }
  }

  return {
    host,
    port,
    version,
    startupMs: Math.round(performance.now() - began),
    pid: running.pid,
    directory: dir.path,
    url: (database, as = serverUser) =>
      `postgres://${encodeURIComponent(as)}@${host}:${port}/${encodeURIComponent(database)}`,
    admin,
    showPools: () => admin('SHOW POOLS'),
    showServers: () => admin('SHOW SERVERS'),
    showClients: () => admin('SHOW CLIENTS'),
    log: () => running.output.tail(),
    async stop() {
      // SIGTERM is PgBouncer's immediate shutdown (SIGINT would wait for every client to leave).
      await running.stop('SIGTERM');
      await dir.remove();
    },
  };
}
