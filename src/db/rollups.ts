import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';

/**
 * The rollups hold report days of one time zone (see sql/migrations/004_rollups.sql). When REPORT_TIMEZONE
 * names another, they are rebuilt for it before the gateway serves anything; until then the reporting views
 * refuse to answer rather than mix up days. Returns the zone they held before, or null when nothing changed.
 */
export async function ensureRollupTimezone(db: Kysely<Database>, zone: string): Promise<string | null> {
  return db.transaction().execute(async (trx) => {
    // One instance rebuilds; another starting at the same time waits here and then finds the work done.
    await sql`SELECT pg_advisory_xact_lock(hashtext('marketpulse.rollups'))`.execute(trx);
    const { rows } = await sql<{ timezone: string }>`SELECT timezone FROM rollup_state`.execute(trx);
    const kept = rows[0]?.timezone ?? null;
    if (kept === zone) return null;
    await sql`SELECT mp_rebuild_rollups(${zone})`.execute(trx);
    return kept ?? '(none)';
  });
}
