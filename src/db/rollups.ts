import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';

// The rollups and the report zone belong to the database (sql/migrations/009_report_zone_of_the_database.sql):
// they are built or re-zoned by an explicit step (npm run migrate on a fresh database, npm run rollups), never
// by a gateway on a shared database.

/** The database's report zone: the zone its rollups hold days of, and the one its new sessions report in. */
export interface DatabaseReportZone {
  rollups: string | null;
  sessions: string | null;
}

export async function readDatabaseReportZone(db: Kysely<Database>): Promise<DatabaseReportZone> {
  const { rows } = await sql<DatabaseReportZone>`SELECT rollups, sessions FROM mp_database_report_zone()`.execute(db);
  return rows[0] ?? { rollups: null, sessions: null };
}

export interface Rezoned {
  /** The zone the rollups held before. */
  previous: string | null;
  /** How long readers of the reporting views could have been kept waiting: from the exclusive lock to the end of the swap. */
  exclusiveMs: number;
}

/**
 * Builds the rollups for `zone` beside the old ones and swaps them in (mp_rezone_rollups), in one transaction of
 * `db`'s: readers wait only for the swap, writers for the whole build. Run it on a session without a statement
 * timeout: the build reads every transaction.
 */
export async function rezoneRollups(db: Kysely<Database>, zone: string): Promise<Rezoned> {
  const { rows } = await sql<{ previous: string | null; exclusive_ms: number }>`
    SELECT previous, exclusive_ms FROM mp_rezone_rollups(${zone})`.execute(db);
  return { previous: rows[0]!.previous, exclusiveMs: rows[0]!.exclusive_ms };
}

/**
 * Makes the database's sessions report in its rollups' zone again where that setting is missing (a database
 * restored from a dump of its tables), and returns the zone. Changes nothing otherwise.
 */
export async function restoreSessionReportZone(db: Kysely<Database>): Promise<DatabaseReportZone> {
  const { rows } =
    await sql<DatabaseReportZone>`SELECT rollups, sessions FROM mp_restore_session_report_zone()`.execute(db);
  return rows[0]!;
}
