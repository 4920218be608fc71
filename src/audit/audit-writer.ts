import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { deleteAuditEntriesBefore, insertAuditEntries, type AuditEntry } from './audit.repository.js';
import type { Logger } from '../observability/logger.js';

export interface AuditWriterOptions {
  /** Longest an entry waits in memory before it is written (AUDIT_FLUSH_INTERVAL_MS). */
  flushIntervalMs: number;
  /** Entries written per INSERT; a full batch is written at once rather than at the next interval (AUDIT_BATCH_SIZE). */
  batchSize: number;
  /**
   * Most entries held while PostgreSQL does not take them. Past it the oldest are dropped (and counted in the
   * log) rather than letting an outage grow the heap without bound.
   */
  maxPending: number;
  /** Entries older than this many days are deleted, at most once per `pruneIntervalMs`; 0 or none keeps them for ever. */
  retentionDays?: number;
  pruneIntervalMs?: number;
}

export type AuditLogger = Pick<Logger, 'error'>;

/** What a gateway's writer holds at most while PostgreSQL does not take its entries. */
export const GATEWAY_MAX_PENDING = 50_000;
/** How often a gateway's writer deletes entries past their retention. */
export const GATEWAY_PRUNE_INTERVAL_MS = 60 * 60 * 1_000;

const MS_PER_DAY = 24 * 60 * 60 * 1_000;

/**
 * Writes audit entries in batches, off the request path: `record` only appends to a buffer, and a timer (or a
 * full batch) writes the buffer in one INSERT. A failed write keeps its entries for the next attempt, so a
 * short outage of PostgreSQL loses nothing. `close` writes what is left.
 */
export class AuditWriter {
  private pending: AuditEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private dropped = 0;
  private closed = false;
  private lastPruneAt = -Infinity;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly logger: AuditLogger,
    private readonly options: AuditWriterOptions,
  ) {}

  record(entry: AuditEntry): void {
    this.pending.push(entry);
    if (this.pending.length > this.options.maxPending) {
      const excess = this.pending.length - this.options.maxPending;
      this.pending.splice(0, excess);
      this.dropped += excess;
    }
    if (this.pending.length >= this.options.batchSize) {
      void this.flush();
    } else if (!this.timer && !this.closed) {
      this.timer = setTimeout(() => void this.flush(), this.options.flushIntervalMs);
      // Waiting entries never keep the process alive; shutdown calls close(), which writes them.
      this.timer.unref();
    }
  }

  /** Entries recorded but not yet written. */
  get backlog(): number {
    return this.pending.length;
  }

  /** Writes everything recorded so far; resolves once it is in PostgreSQL (or the attempt failed and was logged). */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    // One write at a time, in order; a flush during a write waits for it, then writes what came since.
    while (this.writing) await this.writing;
    if (this.pending.length === 0) return;
    this.writing = this.writeAll().finally(() => {
      this.writing = undefined;
    });
    await this.writing;
  }

  private async writeAll(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.slice(0, this.options.batchSize);
      try {
        await insertAuditEntries(this.db, batch);
      } catch (error) {
        // Entries stay pending for the next flush. The log names no customer: the trail itself is the record.
        this.logger.error({ err: error, pending: this.pending.length }, 'could not write the audit trail; will retry');
        if (!this.closed && !this.timer) {
          this.timer = setTimeout(() => void this.flush(), this.options.flushIntervalMs);
          this.timer.unref();
        }
        return;
      }
      this.pending.splice(0, batch.length);
    }
    if (this.dropped > 0) {
      this.logger.error({ dropped: this.dropped }, 'audit entries were dropped while PostgreSQL did not take them');
      this.dropped = 0;
    }
    // Retention rides on writes: a gateway that writes no entries has none to age out either. Every gateway
    // prunes on its own schedule; the DELETE is idempotent, so several of them doing it costs nothing more.
    if (performance.now() - this.lastPruneAt >= (this.options.pruneIntervalMs ?? 0)) await this.prune();
  }

  /** Deletes entries older than the retention period (none when it is 0); returns how many went. */
  async prune(): Promise<number> {
    const days = this.options.retentionDays ?? 0;
    this.lastPruneAt = performance.now();
    if (days <= 0) return 0;
    try {
      return await deleteAuditEntriesBefore(this.db, new Date(Date.now() - days * MS_PER_DAY));
    } catch (error) {
      this.logger.error({ err: error }, 'could not delete expired audit entries; will try again');
      return 0;
    }
  }

  /** Writes what is left and stops the timer; later entries are still written by an explicit flush. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }
}
