import type { DatabaseReportZone } from './rollups.js';
import type { Logger } from '../observability/logger.js';

// Whether this gateway may serve from its database: its REPORT_TIMEZONE must be the database's report zone.
// Also what a gateway with read replicas checks on each of them, since a replica holds the primary's zone.

export type ReportZoneLogger = Pick<Logger, 'info' | 'error'>;

/** Why a gateway reporting in `expected` must not serve from a database in `zone`; undefined when it may. */
export function zoneMismatch(expected: string, zone: DatabaseReportZone): string | undefined {
  if (zone.rollups === null) return 'the database has no rollups yet: run `npm run migrate`';
  if (zone.rollups !== expected) {
    return (
      `REPORT_TIMEZONE is ${expected}, but the database reports in ${zone.rollups}: restart this gateway with ` +
      `REPORT_TIMEZONE=${zone.rollups}, or re-zone the database with \`npm run rollups -- --timezone ${expected}\``
    );
  }
  if (zone.sessions !== zone.rollups) {
    return (
      `the database's sessions default to report zone ${zone.sessions ?? '(none)'} while its rollups hold days of ` +
      `${zone.rollups}: run \`npm run migrate\` to set it again`
    );
  }
  return undefined;
}

export type ZoneVerdict =
  | { state: 'unknown' }
  | { state: 'matching'; zone: DatabaseReportZone }
  | { state: 'mismatched'; zone: DatabaseReportZone; reason: string };

/**
 * Follows the database's report zone for a gateway: read at start-up, on every readiness probe, whenever a
 * statement finds its session in another zone than the rollups, and after the change listener reconnects; taken
 * at once from the announcement a re-zone makes on the change feed. While the zones differ the gateway serves no
 * GraphQL and is not ready: through a pooler its sessions report in the database's zone, not in its own.
 */
export class ReportZoneCheck {
  private verdict: ZoneVerdict = { state: 'unknown' };
  private reading: Promise<ZoneVerdict> | undefined;

  constructor(
    readonly expected: string,
    private readonly read: () => Promise<DatabaseReportZone>,
    private readonly logger: ReportZoneLogger,
  ) {}

  get current(): ZoneVerdict {
    return this.verdict;
  }

  /** Why GraphQL requests are refused now; undefined while the zones match or while the database is unreachable. */
  get refusal(): string | undefined {
    return this.verdict.state === 'mismatched' ? this.verdict.reason : undefined;
  }

  /** Reads the database's zone (one statement; concurrent callers share it). Rejects when the database does not answer. */
  check(): Promise<ZoneVerdict> {
    this.reading ??= this.read()
      .then((zone) => this.settle(zone))
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }

  /** The verdict, read first when it is not known yet (the database was unreachable so far). */
  async known(): Promise<ZoneVerdict> {
    if (this.verdict.state !== 'unknown') return this.verdict;
    return this.check().catch(() => this.verdict);
  }

  /** A re-zone announced its new zone: both the rollups and new sessions hold it from that commit on. */
  announced(zone: string): void {
    this.settle({ rollups: zone, sessions: zone });
  }

  private settle(zone: DatabaseReportZone): ZoneVerdict {
    const reason = zoneMismatch(this.expected, zone);
    const next: ZoneVerdict =
      reason === undefined ? { state: 'matching', zone } : { state: 'mismatched', zone, reason };
    const before = this.verdict;
    this.verdict = next;
    if (next.state === 'mismatched' && (before.state !== 'mismatched' || before.reason !== next.reason)) {
      this.logger.error({ reportTimezone: this.expected, database: zone }, `not serving: ${next.reason}`);
    } else if (next.state === 'matching' && before.state === 'mismatched') {
      this.logger.info({ reportTimezone: this.expected }, 'the database reports in REPORT_TIMEZONE again: serving');
    }
    return next;
  }
}
