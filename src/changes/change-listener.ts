import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { DatabaseHandle, Unlisten } from '../db/database-handle.js';
import type { Logger } from '../observability/logger.js';

/** Where sql/migrations/003_change_feed.sql announces every committed write: `{"version":N,"table":"..."}`. */
export const CHANGE_CHANNEL = 'marketpulse_data_changed';

export type ChangeListenerLogger = Pick<Logger, 'debug' | 'info' | 'warn'>;

/** How often a listener that knows of a gap in the versions it heard asks the database whether it has closed. */
const SETTLE_POLL_MS = 500;

/** Above this many runs of versions heard out of order, a key names them by a digest instead of one by one. */
const LISTED_RUNS = 4;

/**
 * Follows the data version of the database, so that cache keys include it and a change makes every older
 * cached answer unreachable at once.
 *
 * What a key stands for is a set of committed versions: "42" means every version up to 42 has ended (committed,
 * or rolled back and left a gap). Versions are taken when a write statement ends but announced when its
 * transaction commits, so they can arrive out of order: while a long transaction that took 7 is open, one that
 * took 8 commits and the key becomes "6+8" (everything up to 6, and 8). Answers computed then lack 7's rows, and
 * no gateway can key by "8" before 7 has ended, so they are never served as answers that have them.
 *
 * The database says which versions have ended: mp_settled_data_version() (sql/migrations/010) returns the highest
 * version below which every writing transaction has ended, and the highest version taken. The listener LISTENs,
 * then reads both: from then on it hears every later commit, so a gateway that has just started keys by the same
 * set as one that has listened for hours, and they share cached answers at once. It reads again while it knows of
 * a gap (a version announced above one it has not heard of), since a rolled-back version is never announced.
 *
 * Only while versions up to the highest one taken before it listened have not all ended may one of them have
 * committed unheard; until they have (and after every reconnection, until that read), the key is this
 * listener's own ("42@3fa9c1.0"), so that it neither serves others' answers that lack such a commit nor has
 * its own taken for theirs.
 */
export class ChangeListener {
  /** Every version up to this one has ended. */
  private settled = 0n;
  /** Versions above `settled` announced as committed: kept apart until every version below them has ended. */
  private readonly heard = new Set<bigint>();
  /** The highest version taken before this session listened; undefined until it is read on the session. */
  private blindUpTo: bigint | undefined;
  private key: string;
  private unlisten: Unlisten | undefined;
  private listening = deferred();
  /** Counts lost sessions, so that a version read on a session that has dropped since is not trusted. */
  private sessions = 0;
  private readonly instance = randomBytes(3).toString('hex');
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private readAgain = false;
  private readonly changeListeners = new Set<() => void>();
  private readonly zoneListeners = new Set<(zone: string | undefined) => void>();

  private constructor(
    private readonly database: DatabaseHandle,
    private readonly logger: ChangeListenerLogger,
  ) {
    this.key = this.makeKey();
  }

  /** Starts listening. A database that is down does not stop the gateway: the listener catches up later. */
  static async start(database: DatabaseHandle, logger: ChangeListenerLogger): Promise<ChangeListener> {
    const listener = new ChangeListener(database, logger);
    listener.unlisten = await database.listen(CHANGE_CHANNEL, (payload) => listener.announced(payload), {
      onListening: () => {
        const waiting = listener.listening;
        const session = listener.sessions;
        void listener.readOnListening(session).then(() => {
          if (session !== listener.sessions || listener.closed) return;
          waiting.resolve();
          listener.rekey();
          listener.logger.info({ dataVersion: listener.key }, 'listening for data changes');
          // Back after a lost session: whatever was announced meanwhile is lost, so tell of a change anyway.
          if (session > 0) {
            listener.notifyChange();
            listener.notifyZone(undefined);
          }
          listener.followGaps();
        });
      },
      onConnectionError: (error) => {
        listener.sessions += 1;
        listener.blindUpTo = undefined;
        logger.warn({ err: error }, 'the change listener lost its database session; reconnecting');
        if (listener.listening.settled) listener.listening = deferred();
      },
    });
    return listener;
  }

  /**
   * The data version that cache keys are made with: "42" when every version up to 42 has ended, "42+44-45"
   * while 43 has not, "42@3fa9c1.0" while this listener cannot know it has heard every commit.
   */
  get version(): string {
    return this.key;
  }

  /** The highest version this listener knows has committed (or ended); every answer computed from now on has it. */
  get latestVersion(): bigint {
    let latest = this.settled;
    for (const version of this.heard) if (version > latest) latest = version;
    return latest;
  }

  /** Every version up to this one has ended: an answer computed from now on misses no write up to it. */
  get settledVersion(): bigint {
    return this.settled;
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
   * Calls `listener` after every change of the data version (an announcement, or a read that finds a version
   * ended), and after a reconnection (changes made while the session was away were not announced to it).
   * Returns the function that stops calling it.
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
    clearTimeout(this.poll);
    const unlisten = this.unlisten;
    this.unlisten = undefined;
    await unlisten?.();
    await this.reading;
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
    if (version > this.settled) this.heard.add(version);
    // Before the change listeners: what they recompute must already be refused if the zone is not ours.
    if (typeof zone === 'string') this.notifyZone(zone);
    if (this.rekey()) {
      this.logger.debug({ dataVersion: this.key }, 'data changed');
      this.notifyChange();
    }
    this.followGaps();
  }

  /** Makes the key again from what is known; true when it changed. */
  private rekey(): boolean {
    while (this.heard.delete(this.settled + 1n)) this.settled += 1n;
    for (const version of this.heard) if (version <= this.settled) this.heard.delete(version);
    const key = this.makeKey();
    if (key === this.key) return false;
    this.key = key;
    return true;
  }

  private makeKey(): string {
    let key = String(this.settled);
    if (this.heard.size > 0) {
      const runs: string[] = [];
      let first: bigint | undefined;
      let last = 0n;
      for (const version of [...this.heard].sort((a, b) => (a < b ? -1 : 1))) {
        if (first !== undefined && version === last + 1n) {
          last = version;
          continue;
        }
        if (first !== undefined) runs.push(first === last ? String(first) : `${first}-${last}`);
        first = last = version;
      }
      runs.push(first === last ? String(first) : `${first}-${last}`);
      key +=
        runs.length <= LISTED_RUNS
          ? `+${runs.join('+')}`
          : `+${runs.length}#${createHash('sha256').update(runs.join('+')).digest('hex').slice(0, 16)}`;
    }
    const vouched = this.blindUpTo !== undefined && this.settled >= this.blindUpTo;
    return vouched ? key : `${key}@${this.instance}.${this.sessions}`;
  }

  /** While a version is missing below one heard, or one taken before listening may be open, reads again now and then. */
  private followGaps() {
    clearTimeout(this.poll);
    this.poll = undefined;
    // Before the read after (re)listening there is nothing to follow yet: that read comes first.
    if (this.closed || this.blindUpTo === undefined) return;
    if (this.heard.size === 0 && this.settled >= this.blindUpTo) return;
    void this.readSettled();
    this.poll = setTimeout(() => this.followGaps(), SETTLE_POLL_MS);
    this.poll.unref?.();
  }

  /** One read at a time; asked for meanwhile, it runs once more after the current one. */
  private async readSettled(): Promise<void> {
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = (async () => {
      do {
        this.readAgain = false;
        try {
          const { settled } = await this.readVersions();
          if (this.closed) return;
          if (settled > this.settled) this.settled = settled;
          if (this.rekey()) {
            this.logger.debug({ dataVersion: this.key }, 'data versions ended');
            this.notifyChange();
          }
        } catch (error) {
          // The next announcement or poll reads again; meanwhile the key is only less widely shared.
          this.logger.debug({ err: error }, 'could not read the settled data version');
          return;
        }
      } while (this.readAgain && !this.closed);
    })().finally(() => (this.reading = undefined));
    return this.reading;
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

  private async readVersions(): Promise<{ settled: bigint; latest: bigint }> {
    const { rows } = await sql<{ settled: string; latest: string }>`
      SELECT settled::text AS settled, latest::text AS latest FROM mp_settled_data_version()`.execute(this.database.db);
    return { settled: BigInt(rows[0]!.settled), latest: BigInt(rows[0]!.latest) };
  }

  /** The read after (re)listening: what has ended, and up to which version a commit may have gone unheard. */
  private async readOnListening(session: number): Promise<void> {
    try {
      const { settled, latest } = await this.readVersions();
      if (settled > this.settled) this.settled = settled;
      if (session === this.sessions) this.blindUpTo = latest;
    } catch (error) {
      // Announcements may have been missed, so the version must be read before the listener counts as
      // caught up; the session that listens is up, so the pool should answer again shortly.
      this.logger.warn({ err: error }, 'could not read the data version; retrying in a second');
      if (this.closed || session !== this.sessions) return;
      await new Promise<void>((resolve) => (this.retry = setTimeout(resolve, 1_000)));
      if (!this.closed && session === this.sessions) await this.readOnListening(session);
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
