import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { DatabaseHandle, Unlisten } from '../db/create-database.js';
import type { Logger } from '../observability/logger.js';

/** Where sql/migrations/003_change_feed.sql announces every committed write: `{"version":N,"table":"..."}`. */
export const CHANGE_CHANNEL = 'marketpulse_data_changed';

export type ChangeListenerLogger = Pick<Logger, 'debug' | 'info' | 'warn'>;

/**
 * Follows the data version of the database: the highest version announced on the change feed, re-read with
 * mp_data_version() whenever the listening session (re)connects, since announcements made while it was away
 * are lost. Cache keys include `version`, so a new one makes every older cached answer unreachable at once.
 *
 * Versions are taken when a write statement ends but announced when its transaction commits, so they can
 * arrive out of order: a long transaction that took 7 can commit after a short one that took 8. Answers
 * computed between the two commits do not contain 7's rows, so 7's announcement must change the key too,
 * although 8 is already known: it becomes "8~7". Every gateway receives the same announcements in the same
 * (commit) order, so gateways that share a Redis still agree on the key.
 *
 * A number read with mp_data_version() is not as good as an announced one: its transaction may not have
 * committed yet, or an older transaction may have committed late while this listener was away, and other
 * gateways may hold answers under that plain number that lack those rows. So after every (re)connection the
 * key is one of this listener's own ("8@3fa9c1.0") until the next announcement of a new version, from which
 * on all gateways agree again.
 */
export class ChangeListener {
  private highest = 0n;
  private key = '0';
  private unlisten: Unlisten | undefined;
  private listening = deferred();
  /** Counts lost sessions, so that a version read on a session that has dropped since is not trusted. */
  private sessions = 0;
  private readonly instance = randomBytes(3).toString('hex');
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  private readonly changeListeners = new Set<() => void>();
  private readonly zoneListeners = new Set<(zone: string | undefined) => void>();

  private constructor(
    private readonly database: DatabaseHandle,
    private readonly logger: ChangeListenerLogger,
  ) {}

  /** Starts listening. A database that is down does not stop the gateway: the listener catches up later. */
  static async start(database: DatabaseHandle, logger: ChangeListenerLogger): Promise<ChangeListener> {
    const listener = new ChangeListener(database, logger);
    listener.unlisten = await database.listen(CHANGE_CHANNEL, (payload) => listener.announced(payload), {
      onListening: () => {
        const waiting = listener.listening;
        const session = listener.sessions;
        void listener.readVersion().then(() => {
          if (session !== listener.sessions || listener.closed) return;
          waiting.resolve();
          // Back after a lost session: whatever was announced meanwhile is lost, so tell of a change anyway.
          if (session > 0) {
            listener.notifyChange();
            listener.notifyZone(undefined);
          }
        });
      },
      onConnectionError: (error) => {
        listener.sessions += 1;
        logger.warn({ err: error }, 'the change listener lost its database session; reconnecting');
        if (listener.listening.settled) listener.listening = deferred();
      },
    });
    return listener;
  }

  /** The data version that cache keys are made with: "42", "42~41" after a late commit, "42@3fa9c1.0" after a (re)connection. */
  get version(): string {
    return this.key;
  }

  /**
   * True while changes are heard: listening, with the version read since the last (re)connection. While it
   * is false a change may go unnoticed, so no cached answer may be served.
   */
  get hearsChanges(): boolean {
    // Listening is settled once the version has been read on the current session, and renewed when it is lost.
    return !this.closed && this.listening.settled;
  }

  /** Resolves once the listener listens and has read the current version (again, after a reconnection). */
  whenListening(): Promise<void> {
    return this.listening.promise;
  }

  /**
   * Calls `listener` after every announced change, and after a reconnection (changes made while the session
   * was away were not announced to it). Returns the function that stops calling it.
   */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /**
   * Calls `listener` with the zone a re-zone of the rollups announces (sql/migrations/009), and with undefined
   * after a reconnection, when such an announcement may have been missed. Returns the function that stops it.
   */
  onReportZone(listener: (zone: string | undefined) => void): () => void {
    this.zoneListeners.add(listener);
    return () => this.zoneListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.changeListeners.clear();
    this.zoneListeners.clear();
    clearTimeout(this.retry);
    const unlisten = this.unlisten;
    this.unlisten = undefined;
    await unlisten?.();
  }

  private announced(payload: string) {
    let version: bigint;
    let zone: unknown;
    try {
      const announcement = JSON.parse(payload) as { version: number | string; zone?: unknown };
      version = BigInt(announcement.version);
      zone = announcement.zone;
    } catch (error) {
      this.logger.warn({ err: error, payload }, 'ignored a change announcement that is not {"version":N}');
      return;
    }
    if (version > this.highest) {
      this.highest = version;
      this.key = String(version);
    } else {
      this.key = `${this.highest}~${version}`;
    }
    this.logger.debug({ dataVersion: this.key }, 'data changed');
    // Before the change listeners: what they recompute must already be refused if the zone is not ours.
    if (typeof zone === 'string') this.notifyZone(zone);
    this.notifyChange();
  }

  private notifyZone(zone: string | undefined) {
    for (const listener of this.zoneListeners) {
      try {
        listener(zone);
      } catch (error) {
        this.logger.warn({ err: error }, 'a report zone listener failed');
      }
    }
  }

  private notifyChange() {
    for (const listener of this.changeListeners) {
      try {
        listener();
      } catch (error) {
        this.logger.warn({ err: error }, 'a change listener failed');
      }
    }
  }

  private async readVersion(): Promise<void> {
    try {
      const { rows } = await sql<{ version: string }>`SELECT mp_data_version()::text AS version`.execute(this.database.db);
      const version = BigInt(rows[0]!.version);
      if (version > this.highest) this.highest = version;
      this.key = `${this.highest}@${this.instance}.${this.sessions}`;
      this.logger.info({ dataVersion: this.key }, 'listening for data changes');
    } catch (error) {
      // Announcements may have been missed, so the version must be read before the listener counts as
      // caught up; the session that listens is up, so the pool should answer again shortly.
      this.logger.warn({ err: error }, 'could not read the data version; retrying in a second');
      if (this.closed) return;
      await new Promise<void>((resolve) => (this.retry = setTimeout(resolve, 1_000)));
      if (!this.closed) await this.readVersion();
    }
  }
}

interface Deferred {
  promise: Promise<void>;
  settled: boolean;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  const result: Deferred = {
    promise,
    settled: false,
    resolve: () => {
      result.settled = true;
      resolve();
    },
  };
  return result;
}
