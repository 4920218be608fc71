import { Kysely } from 'kysely';
import { queryLogger, type DatabaseHandle, type DatabaseOptions } from './database-handle.js';
import type { Database } from './database.js';
import { trackListeners } from './postgres-listener.js';
import { KEEP_AS_TEXT, identity } from './text-types.js';
import { withTimeout } from './timeouts.js';

// The PGlite connector: the embedded PostgreSQL, one session in this process.

/**
 * Opens the embedded PostgreSQL (PGlite). `dataDir` persists it on disk; without one it lives in memory.
 * PGlite is a single session, which reports in the database's zone like any other; PGlite does not apply the
 * database's settings when it starts, so the zone is taken from the database here (once migrated).
 */
export async function openEmbedded(
  dataDir: string | undefined,
  options: Pick<DatabaseOptions, 'onQuery' | 'onError'> = {},
): Promise<DatabaseHandle> {
  // Loaded on demand: kysely-pglite pulls in a code generator that costs seconds to import, and a gateway on
  // a real PostgreSQL never needs either package.
  const [{ PGlite }, { pgliteDialect }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('./pglite-dialect.js'),
  ]);
  const parsers = Object.fromEntries([...KEEP_AS_TEXT].map((oid) => [oid, identity]));
  const client = await PGlite.create({ ...(dataDir ? { dataDir } : {}), parsers });
  await client.exec(`DO $$ BEGIN
    IF to_regprocedure('mp_restore_session_report_zone()') IS NOT NULL THEN PERFORM mp_restore_session_report_zone(); END IF;
  END $$`);
  const db = new Kysely<Database>({ dialect: pgliteDialect(client), log: queryLogger(options) });
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
