import { setTimeout as sleep } from 'node:timers/promises';
import { Kysely, PostgresDialect, sql, type PostgresPool, type PostgresPoolClient } from 'kysely';
import { createThrottledWarn } from '../observability/throttled-warn.js';
import { queryLogger, type DatabaseOptions } from './database-handle.js';
import { openPostgresPools, type PostgresPools } from './postgres-connector.js';
import { withTimeout } from './timeouts.js';
import type { Database } from './database.js';
import { isSessionLost } from './statement-failures.js';
import type { StatementClient, StatementPool } from './statement-runner.js';

// Report reads on streaming replicas, never older than the data version their answer is stamped with.
//
// An answer is stamped with the data version V the gateway knew when the request started (response-cache.ts),
// and must hold every write up to V. When the gateway hears of a version (the change listener), it reads the
// primary's WAL position; that position lies past the commit of every write the version counts, since a
// version is announced (or read) only once its writes have committed. A statement goes to a replica only when
// that replica has replayed the position read for the version current *when the statement starts*, which is V
// or a later one, whose position is no earlier. Until the position of the current version is known (just after
// a change, or when the primary did not answer) statements go to the primary. So whatever version a statement
// runs under, it reads at least V, and the answer may be cached under V.
//
// A replica's replay position is read on the session the statement then runs on, and remembered per session:
// it only grows while the session lives, whereas a replica that restarts may come back consistent at an earlier
// position than it had replayed before, and the sessions of its previous life are gone with it. So a statement
// costs no extra round trip while no new version arrives, and one per session after one does.
//
// A replica that does not answer, or fails a statement for lack of a session or with a recovery conflict,
// never fails the request: the statement runs again on the primary, and an unreachable replica is left alone
// (and probed in the background) until it answers again.

/** A WAL position, `16/B374D848`, as a number. */
export function parseLsn(text: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (!match) throw new Error(`not a WAL position: ${text}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export type ReadTarget = 'primary' | 'replica';

/** Why a statement meant for a replica ran on the primary after all. */
export type FallbackReason = 'conflict' | 'unreachable';

export type ReplicaState = 'up' | 'behind' | 'paused' | 'down';

/** What /readyz and /metrics say about one replica. */
export interface ReplicaStatus {
  /** host:port/database of its URL: which replica, without credentials. */
  name: string;
  state: ReplicaState;
  /** Why it is not `up`. */
  reason?: string;
  /** pg_last_wal_replay_lsn() */
  replayLsn?: string;
  /** How far its replay is behind the primary's WAL position, in bytes. */
  lagBytes?: number;
  /** Seconds since the last transaction it replayed was committed on the primary; 0 when it has replayed all it received. */
  lagSeconds?: number;
}

export interface ReadReplicaEvents {
  /** Every statement of a report read, where it ran (`replica`: host:port/database). */
  onRead?(target: ReadTarget, replica?: string): void;
  /** A statement a replica failed ran again on the primary. */
  onFallback?(replica: string, reason: FallbackReason): void;
}

export interface ReadReplicaLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export interface ReadReplicaOptions extends ReadReplicaEvents {
  /** How long a statement may wait for a replica to replay the current version before it goes to the primary. */
  maxWaitMs: number;
  /** Where data versions are heard (the ChangeListener): the one answers are stamped with now, and each change. */
  changes: VersionFeed;
  logger: ReadReplicaLogger;
}

export interface VersionFeed {
  readonly version: string;
  onChange(listener: () => void): () => void;
}

/** What a ReadReplicas reads from the primary: its `db` (the WAL position) and the pool its statements go through. */
export interface PrimaryReads {
  db: Kysely<Database>;
  statements: StatementPool;
}

// A replica found behind is not asked again for this long; also the step of a bounded wait.
const RECHECK_MS = 10;
const FIRST_PROBE_MS = 500;
const LONGEST_PROBE_MS = 30_000;
// /readyz says `behind` past this lag; reads skip a lagging replica whatever its lag.
const BEHIND_SECONDS = 1;

const RECOVERY_CONFLICT = /conflict with recovery/i;

/** The error a replica's statement failed with calls for the primary: a recovery conflict, or no session. */
export function replicaFailure(error: unknown): FallbackReason | undefined {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if ((code === '40001' || code === '40P01') && typeof message === 'string' && RECOVERY_CONFLICT.test(message))
    return 'conflict';
  if (isSessionLost(error)) return 'unreachable';
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return 'unreachable';
  if (error instanceof Error && /timeout exceeded when trying to connect|connection timeout/i.test(error.message))
    return 'unreachable';
  return undefined;
}

class NotAReplicaError extends Error {
  constructor() {
    super('not a streaming replica: pg_last_wal_replay_lsn() is null');
    this.name = 'NotAReplicaError';
  }
}

/** host:port/database of a PostgreSQL URL. */
export function replicaName(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname || 'localhost'}:${parsed.port || '5432'}${parsed.pathname.length > 1 ? parsed.pathname : ''}`;
}

interface Replica {
  name: string;
  pools: PostgresPools;
  /** The replay position last read on each session; it only grows while the session lives. */
  sessions: WeakMap<object, bigint>;
  /** The latest replay position read on any session, and when: a replica found behind is skipped for a moment. */
  latest: bigint;
  checkedAt: number;
  down: { reason: string; probeAfterMs: number; timer?: NodeJS.Timeout } | undefined;
}

interface Chosen {
  replica: Replica;
  client: StatementClient;
}

interface HeardVersion {
  version: string;
  changes: number;
}

const sameVersion = (a: HeardVersion | undefined, b: HeardVersion) =>
  a !== undefined && a.version === b.version && a.changes === b.changes;

const REPLAY_POSITION = 'SELECT pg_last_wal_replay_lsn()::text AS lsn';

export class ReadReplicas {
  /** Report reads: on a replica that has replayed the current data version, else on the primary. */
  readonly db: Kysely<Database>;
  private readonly replicas: Replica[];
  /** The primary's WAL position read for a data version, once heard. */
  private position: (HeardVersion & { lsn: bigint }) | undefined;
  private reading: HeardVersion | undefined;
  private changes = 0;
  private next = 0;
  private closed = false;
  private probing: Promise<ReplicaStatus[]> | undefined;
  private readonly warnPosition: (error: unknown, message: string) => void;
  private readonly unhear: () => void;

  constructor(
    private readonly primary: PrimaryReads,
    urls: string[],
    poolOptions: DatabaseOptions,
    private readonly options: ReadReplicaOptions,
  ) {
    this.warnPosition = createThrottledWarn(options.logger);
    this.replicas = urls.map((url) => ({
      name: replicaName(url),
      pools: openPostgresPools(url, {
        ...poolOptions,
        onError: (error) =>
          options.logger.warn({ err: error, replica: replicaName(url) }, 'idle replica connection failed'),
      }),
      sessions: new WeakMap(),
      latest: 0n,
      checkedAt: -Infinity,
      down: undefined,
    }));
    const router: PostgresPool = {
      connect: () => this.connect(),
      end: async () => {
        await Promise.all(this.replicas.map((replica) => replica.pools.pool.end()));
      },
    };
    this.db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: router }), log: queryLogger(poolOptions) });
    this.unhear = options.changes.onChange(() => {
      this.changes += 1;
      this.heard();
    });
    this.heard();
  }

  get names(): string[] {
    return this.replicas.map((replica) => replica.name);
  }

  /**
   * A data version was heard: read the primary's WAL position for it. Called on every change the listener
   * announces; a statement that finds the position of the current version unknown calls it too.
   */
  heard(): void {
    const heard = this.current();
    if (this.closed || sameVersion(this.position, heard) || sameVersion(this.reading, heard)) return;
    this.reading = heard;
    // The insert position rather than pg_current_wal_lsn(), the written one: with synchronous_commit off a
    // commit is visible (and announced) before its WAL is written, and only the insert position covers it then.
    sql<{ lsn: string }>`SELECT pg_current_wal_insert_lsn()::text AS lsn`
      .execute(this.primary.db)
      .then(({ rows }) => {
        // Read for a version that is no longer current: the current one's read is under way or to come.
        if (sameVersion(heard, this.current())) this.position = { ...heard, lsn: parseLsn(rows[0]!.lsn) };
      })
      .catch((error: unknown) =>
        this.warnPosition(error, "could not read the primary's WAL position; report reads stay on the primary"),
      )
      .finally(() => {
        if (this.reading === heard) this.reading = undefined;
      });
  }

  /**
   * The version current now: the listener's key, and the number of changes heard so far, since a key may come
   * back (`8~7` announced again) after a change whose position was never read.
   */
  private current(): HeardVersion {
    return { version: this.options.changes.version, changes: this.changes };
  }

  /** The WAL position a replica must have replayed to serve the current version; undefined while unknown. */
  private required(): bigint | undefined {
    const position = this.position;
    if (position && sameVersion(position, this.current())) return position.lsn;
    this.heard();
    return undefined;
  }

  private async connect(): Promise<PostgresPoolClient> {
    const chosen = await this.choose();
    if (!chosen) {
      this.options.onRead?.('primary');
      return this.primary.statements.connect();
    }
    this.options.onRead?.('replica', chosen.replica.name);
    return this.retryingOnPrimary(chosen);
  }

  private async choose(): Promise<Chosen | undefined> {
    let required = this.required();
    if (required === undefined) return undefined;
    const deadline = performance.now() + this.options.maxWaitMs;
    for (;;) {
      const count = this.replicas.length;
      const start = this.next;
      this.next = (this.next + 1) % count;
      for (let i = 0; i < count; i++) {
        const replica = this.replicas[(start + i) % count]!;
        if (replica.down) continue;
        if (replica.latest < required && performance.now() - replica.checkedAt < RECHECK_MS) continue;
        const chosen = await this.caughtUp(replica, required);
        if (chosen) return chosen;
      }
      const left = deadline - performance.now();
      if (left <= 0 || this.replicas.every((replica) => replica.down)) return undefined;
      await sleep(Math.min(RECHECK_MS, left));
      // The version may have changed while waiting: its position is then read afresh.
      required = this.required();
      if (required === undefined) return undefined;
    }
  }

  /** A session of `replica` that has replayed `required`, or undefined (released) when it has not. */
  private async caughtUp(replica: Replica, required: bigint): Promise<Chosen | undefined> {
    let client: StatementClient;
    try {
      client = await replica.pools.statements.connect();
    } catch (error) {
      this.markDown(replica, error);
      return undefined;
    }
    try {
      let replayed = replica.sessions.get(client.session);
      if (replayed === undefined || replayed < required) {
        const { rows } = (await client.query(REPLAY_POSITION, [])) as { rows: { lsn: string | null }[] };
        const lsn = rows[0]?.lsn;
        if (lsn == null) throw new NotAReplicaError();
        replayed = parseLsn(lsn);
        replica.sessions.set(client.session, replayed);
        replica.latest = replayed;
        replica.checkedAt = performance.now();
      }
      if (replayed >= required) return { replica, client };
      client.release();
      return undefined;
    } catch (error) {
      client.release();
      if (error instanceof NotAReplicaError || replicaFailure(error)) this.markDown(replica, error);
      else
        this.options.logger.warn(
          { err: error, replica: replica.name },
          "could not read a replica's replay position; reading from the primary",
        );
      return undefined;
    }
  }

  /** The replica's session, whose statements run again on the primary when the replica fails them. */
  private retryingOnPrimary({ replica, client }: Chosen): PostgresPoolClient {
    const query = async (text: string, values: readonly unknown[]) => {
      try {
        return await client.query(text, values);
      } catch (error) {
        const reason = replicaFailure(error);
        if (!reason) throw error;
        if (reason === 'unreachable') this.markDown(replica, error);
        else
          this.options.logger.warn(
            { err: error, replica: replica.name },
            'a recovery conflict cancelled a statement on a replica; running it on the primary',
          );
        this.options.onFallback?.(replica.name, reason);
        this.options.onRead?.('primary');
        const primary = await this.primary.statements.connect();
        try {
          return await primary.query(text, values);
        } finally {
          primary.release();
        }
      }
    };
    return {
      query: query as unknown as PostgresPoolClient['query'],
      release: (destroy?: boolean) => client.release(destroy),
    };
  }

  /** Leaves a replica alone until a probe in the background finds it answering again. */
  private markDown(replica: Replica, error: unknown): void {
    if (replica.down || this.closed) return;
    const reason =
      error instanceof Error ? error.message || (error as { code?: string }).code || error.name : String(error);
    replica.down = { reason, probeAfterMs: FIRST_PROBE_MS };
    this.options.logger.warn(
      { err: error, replica: replica.name },
      'a read replica failed; report reads go to the other replicas or the primary until it answers again',
    );
    this.scheduleProbe(replica);
  }

  private scheduleProbe(replica: Replica): void {
    const down = replica.down;
    if (!down || this.closed) return;
    down.timer = setTimeout(() => {
      void replica.pools.pool
        .query<{ lsn: string | null }>(REPLAY_POSITION)
        .then(({ rows }) => {
          if (rows[0]?.lsn == null) throw new NotAReplicaError();
          this.markUp(replica);
        })
        .catch((error: unknown) => {
          down.reason = error instanceof Error ? error.message || error.name : String(error);
          down.probeAfterMs = Math.min(down.probeAfterMs * 2, LONGEST_PROBE_MS);
          this.scheduleProbe(replica);
        });
    }, down.probeAfterMs);
    down.timer.unref();
  }

  private markUp(replica: Replica): void {
    if (!replica.down) return;
    clearTimeout(replica.down.timer);
    replica.down = undefined;
    this.options.logger.info(
      { replica: replica.name },
      'a read replica answers again; report reads go to it once it has replayed the current data version',
    );
  }

  /**
   * Reads every replica's state (and the primary's WAL position, for their lag in bytes), each within
   * `timeoutMs`; concurrent callers share one reading. A replica that answers is taken back at once.
   */
  status(timeoutMs: number): Promise<ReplicaStatus[]> {
    this.probing ??= this.readStatus(timeoutMs).finally(() => {
      this.probing = undefined;
    });
    return this.probing;
  }

  private async readStatus(timeoutMs: number): Promise<ReplicaStatus[]> {
    const primary = withTimeout(
      sql<{ lsn: string }>`SELECT pg_current_wal_lsn()::text AS lsn`.execute(this.primary.db),
      timeoutMs,
      'PostgreSQL',
    )
      .then(({ rows }) => parseLsn(rows[0]!.lsn))
      .catch(() => undefined);
    return Promise.all(
      this.replicas.map(async (replica): Promise<ReplicaStatus> => {
        let row: { lsn: string | null; paused: boolean; lag_seconds: number | null };
        try {
          const result = await withTimeout(
            replica.pools.pool.query<typeof row>(
              `SELECT pg_last_wal_replay_lsn()::text AS lsn, pg_is_wal_replay_paused() AS paused,
                 CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                      ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END AS lag_seconds
               WHERE pg_is_in_recovery()`,
            ),
            timeoutMs,
            `the replica ${replica.name}`,
          );
          if (result.rows[0]?.lsn == null) throw new NotAReplicaError();
          row = result.rows[0];
        } catch (error) {
          if (!replica.down) this.markDown(replica, error);
          return { name: replica.name, state: 'down', reason: replica.down?.reason ?? String(error) };
        }
        this.markUp(replica);
        const replayed = parseLsn(row.lsn!);
        const head = await primary;
        const lagBytes = head === undefined ? undefined : Number(head > replayed ? head - replayed : 0n);
        const lagSeconds = Math.max(0, row.lag_seconds ?? 0);
        const status: ReplicaStatus = {
          name: replica.name,
          state: 'up',
          replayLsn: row.lsn!,
          ...(lagBytes === undefined ? {} : { lagBytes }),
          lagSeconds,
        };
        if (row.paused)
          return {
            ...status,
            state: 'paused',
            reason: 'WAL replay is paused (pg_wal_replay_pause()): reads after a write go to the primary',
          };
        if (lagSeconds >= BEHIND_SECONDS) {
          return {
            ...status,
            state: 'behind',
            reason: `replay is ${lagSeconds.toFixed(1)} s behind the primary: reads after a write go to the primary until it catches up`,
          };
        }
        return status;
      }),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unhear();
    for (const replica of this.replicas) clearTimeout(replica.down?.timer);
    await this.db.destroy();
  }
}
