import { chown, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import {
  disownProcess,
  failure,
  findExecutable,
  findOsUser,
  HarnessUnavailableError,
  makeTempDir,
  onAFreePort,
  ownProcess,
  run,
  runningAsRoot,
  waitFor,
  type OsUser,
} from './child-processes.js';

// A throwaway PostgreSQL 15 primary with one streaming replica, on free ports of 127.0.0.1, made from scratch
// (initdb, pg_basebackup -R) in a temp dir. PostgreSQL refuses to run as root, so a root test process runs the
// server tools as the `postgres` OS user (runuser) in a directory that user owns; any other user runs them as
// itself. Durability is traded for speed (fsync off, tiny buffers, no autovacuum): the data lives for one test file.

const DEFAULT_BIN_DIR = '/usr/lib/postgresql/15/bin';
const SUPERUSER = 'postgres';
const REPLICATION_USER = 'replicator';
const SLOT = 'mp_replica';

export interface ReplicaPairOptions {
  /** Where initdb, pg_ctl, pg_basebackup and postgres are; PG_BIN_DIR or /usr/lib/postgresql/15/bin by default. */
  binDir?: string;
  /** More postgresql.conf settings for both servers, e.g. `{ max_standby_streaming_delay: '1s' }`. */
  settings?: Record<string, string | number>;
}

export type Node = 'primary' | 'replica';

export interface ReplicaPair {
  readonly primaryPort: number;
  readonly replicaPort: number;
  /** Milliseconds from the call to start until the replica streamed from the primary. */
  readonly startupMs: number;
  /** The temp dir holding both data directories and the logs. */
  readonly directory: string;
  /** A URL of `database` on the primary, as the superuser. */
  primaryUrl(database?: string): string;
  /** A URL of `database` on the replica (read-only), as the superuser. */
  replicaUrl(database?: string): string;
  /** Runs one statement in the `postgres` database of one of the servers, on a connection of its own. */
  query<R extends object = Record<string, unknown>>(node: Node, text: string, values?: unknown[]): Promise<R[]>;
  /** Creates a database on the primary and returns once the replica has it too. */
  createDatabase(name: string): Promise<void>;
  /** The primary's pg_current_wal_lsn(). */
  primaryLsn(): Promise<string>;
  /** The replica's pg_last_wal_replay_lsn(). */
  replayLsn(): Promise<string>;
  /** Waits until the replica has replayed `lsn` (the primary's current position by default). */
  waitForReplay(lsn?: string, timeoutMs?: number): Promise<void>;
  /** pg_wal_replay_pause() on the replica: it keeps receiving WAL, applies none of it. */
  pauseReplay(): Promise<void>;
  resumeReplay(): Promise<void>;
  /** Stops the replica (fast shutdown); startReplica starts it again on the same port. */
  stopReplica(): Promise<void>;
  /** Starts the stopped replica again and waits until it streams. */
  startReplica(): Promise<void>;
  /** The servers' recent logs. */
  logs(): Promise<string>;
  /** Stops both servers at once (immediate shutdown) and removes every file. */
  stop(): Promise<void>;
}

function binDirOf(options: ReplicaPairOptions): string {
  return options.binDir ?? process.env.PG_BIN_DIR ?? DEFAULT_BIN_DIR;
}

function serverUser(): OsUser | undefined {
  return runningAsRoot ? findOsUser('postgres') : undefined;
}

/** Why a replica pair cannot be made here, or undefined when it can. */
export function replicaPairUnavailable(options: ReplicaPairOptions = {}): string | undefined {
  const binDir = binDirOf(options);
  for (const tool of ['initdb', 'pg_ctl', 'pg_basebackup', 'postgres']) {
    if (!existsSync(path.join(binDir, tool))) return `no PostgreSQL server binaries in ${binDir} (${tool} is missing)`;
  }
  if (runningAsRoot) {
    if (!serverUser()) return 'running as root, and there is no postgres OS user to run PostgreSQL as';
    if (!findExecutable('runuser')) return 'running as root, and there is no runuser to switch to the postgres user';
  }
  return undefined;
}

function urlOf(port: number, database: string): string {
  return `postgres://${SUPERUSER}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
}

function settingsFile(
  port: number,
  clusterName: string,
  socketDir: string,
  extra: Record<string, string | number>,
): string {
  const settings: Record<string, string | number> = {
    listen_addresses: "'127.0.0.1'",
    port,
    unix_socket_directories: `'${socketDir}'`,
    // Names the walreceiver in pg_stat_replication.application_name.
    cluster_name: `'${clusterName}'`,
    // fsync off makes a commit cheap; synchronous_commit stays on, because with it off a commit's WAL is
    // written (and sent to the replica) up to 200 ms later, and a commit would not be covered by the
    // pg_current_wal_lsn() read right after it, unlike on a production server.
    fsync: 'off',
    full_page_writes: 'off',
    shared_buffers: "'16MB'",
    max_connections: 100,
    autovacuum: 'off',
    jit: 'off',
    wal_level: 'replica',
    max_wal_senders: 4,
    max_replication_slots: 4,
    hot_standby: 'on',
    // The replica reports its replay position every second (10 s by default), so pg_stat_replication is fresh.
    wal_receiver_status_interval: "'1s'",
    max_wal_size: "'256MB'",
    logging_collector: 'off',
    log_min_messages: 'warning',
  };
  for (const [key, value] of Object.entries(extra))
    settings[key] = typeof value === 'number' ? value : `'${String(value).replaceAll("'", "''")}'`;
  return `${Object.entries(settings)
    .map(([key, value]) => `${key} = ${value}`)
    .join('\n')}\n`;
}

export async function startReplicaPair(options: ReplicaPairOptions = {}): Promise<ReplicaPair> {
  const began = performance.now();
  const unavailable = replicaPairUnavailable(options);
  if (unavailable) throw new HarnessUnavailableError(unavailable);
  const binDir = binDirOf(options);
  const user = serverUser();
  const tool = (name: string) => path.join(binDir, name);
  const dir = makeTempDir('mp-replica-pair-', user);
  const primaryData = path.join(dir.path, 'primary');
  const replicaData = path.join(dir.path, 'replica');
  const logFile = (node: Node) => path.join(dir.path, `${node}.log`);
  const runOptions = { user, cwd: dir.path };
  const extra = options.settings ?? {};
  const postmasters = new Map<Node, number>();

  async function writeSettings(data: string, port: number, node: Node) {
    const file = path.join(data, 'harness.conf');
    await writeFile(file, settingsFile(port, `mp_${node}`, dir.path, extra));
    if (user) await chown(file, user.uid, user.gid);
  }

  async function logTail(node: Node): Promise<string> {
    const text = await readFile(logFile(node), 'utf8').catch(() => '');
    return text.length > 6_000 ? text.slice(text.indexOf('\n', text.length - 6_000) + 1) : text;
  }

  /** pg_ctl start; the postmaster it leaves behind is registered as a leftover (SIGQUIT: immediate shutdown). */
  async function startNode(node: Node, data: string) {
    try {
      await run(tool('pg_ctl'), ['start', '-D', data, '-l', logFile(node), '-w', '-t', '60'], runOptions);
    } catch (error) {
      // pg_ctl's own output only says the server did not start; the reason is in the server's log.
      throw failure(`the ${node} did not start: ${(error as Error).message}`, await logTail(node));
    }
    const pid = Number((await readFile(path.join(data, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    postmasters.set(node, pid);
    ownProcess(pid, 'SIGQUIT');
  }

  async function stopNode(node: Node, data: string, mode: 'fast' | 'immediate') {
    const pid = postmasters.get(node);
    if (pid === undefined) return;
    await run(tool('pg_ctl'), ['stop', '-D', data, '-m', mode, '-w', '-t', '60'], runOptions);
    postmasters.delete(node);
    disownProcess(pid);
  }

  let primaryPort = 0;
  let replicaPort = 0;
  const query = async <R extends object>(node: Node, text: string, values?: unknown[]): Promise<R[]> => {
    const client = new pg.Client({
      connectionString: urlOf(node === 'primary' ? primaryPort : replicaPort, 'postgres'),
      connectionTimeoutMillis: 5_000,
    });
    await client.connect();
    try {
      return (await client.query(text, values)).rows as R[];
    } finally {
      await client.end();
    }
  };

  async function waitForStreaming() {
    try {
      await waitFor(
        'the replica to stream from the primary',
        async () =>
          (
            await query<{ state: string }>(
              'primary',
              `SELECT state FROM pg_stat_replication WHERE application_name = 'mp_replica'`,
            )
          )[0]?.state === 'streaming',
        { timeoutMs: 30_000, intervalMs: 20 },
      );
    } catch (error) {
      throw failure((error as Error).message, `${await logTail('primary')}\n${await logTail('replica')}`);
    }
  }

  async function stopAll() {
    await Promise.allSettled([
      stopNode('primary', primaryData, 'immediate'),
      stopNode('replica', replicaData, 'immediate'),
    ]);
    await dir.remove();
  }

  try {
    await run(
      tool('initdb'),
      [
        '-D',
        primaryData,
        '-U',
        SUPERUSER,
        '--auth=trust',
        '--no-sync',
        '--encoding=UTF8',
        '--locale=C.UTF-8',
        '--no-instructions',
      ],
      runOptions,
    );
    await writeFile(path.join(primaryData, 'postgresql.conf'), "\ninclude_if_exists = 'harness.conf'\n", { flag: 'a' });
    primaryPort = await onAFreePort(async (port) => {
      await writeSettings(primaryData, port, 'primary');
      await startNode('primary', primaryData);
      return port;
    });
    await query('primary', `CREATE ROLE ${REPLICATION_USER} WITH LOGIN REPLICATION`);
    // A slot keeps the WAL a stopped replica has not received yet, so startReplica catches up however long it was down.
    await run(
      tool('pg_basebackup'),
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(primaryPort),
        '-U',
        REPLICATION_USER,
        '-D',
        replicaData,
        '-R',
        '-X',
        'stream',
        '-C',
        '-S',
        SLOT,
        '--checkpoint=fast',
        '--no-sync',
        '--no-manifest',
      ],
      runOptions,
    );
    replicaPort = await onAFreePort(async (port) => {
      await writeSettings(replicaData, port, 'replica');
      await startNode('replica', replicaData);
      return port;
    });
    await waitForStreaming();
  } catch (error) {
    const logs = `${await logTail('primary')}\n${await logTail('replica')}`;
    await stopAll();
    if ((error as Error).message.includes('--- output ---')) throw error;
    throw failure(`the replica pair did not start: ${(error as Error).message}`, logs);
  }

  const primaryLsn = async () =>
    (await query<{ lsn: string }>('primary', 'SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn;
  const replayLsn = async () =>
    (await query<{ lsn: string }>('replica', 'SELECT pg_last_wal_replay_lsn()::text AS lsn'))[0]!.lsn;

  let paused = false;

  async function waitForReplay(lsn?: string, timeoutMs = 15_000) {
    const target = lsn ?? (await primaryLsn());
    try {
      await waitFor(
        `the replica to replay ${target}`,
        async () =>
          (
            await query<{ done: boolean }>('replica', 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done', [target])
          )[0]?.done === true,
        { timeoutMs, intervalMs: 10 },
      );
    } catch (error) {
      const where = await replayLsn().catch(() => 'an unknown position');
      const state = `the replica has replayed up to ${where}${paused ? ', and its replay is paused' : ''}`;
      throw failure(`${(error as Error).message}; ${state}`, await logTail('replica'));
    }
  }

  return {
    primaryPort,
    replicaPort,
    startupMs: Math.round(performance.now() - began),
    directory: dir.path,
    primaryUrl: (database = 'postgres') => urlOf(primaryPort, database),
    replicaUrl: (database = 'postgres') => urlOf(replicaPort, database),
    query,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
      await query('primary', `CREATE DATABASE ${name}`);
      await waitForReplay();
    },
    primaryLsn,
    replayLsn,
    waitForReplay,
    async pauseReplay() {
      await query('replica', 'SELECT pg_wal_replay_pause()');
      paused = true;
    },
    async resumeReplay() {
      await query('replica', 'SELECT pg_wal_replay_resume()');
      paused = false;
    },
    async stopReplica() {
      await stopNode('replica', replicaData, 'fast');
      // A paused replica that restarts replays again (the pause is not kept across a restart).
      paused = false;
    },
    async startReplica() {
      await startNode('replica', replicaData);
      await waitForStreaming();
    },
    logs: async () => `--- primary ---\n${await logTail('primary')}\n--- replica ---\n${await logTail('replica')}`,
    stop: stopAll,
  };
}
