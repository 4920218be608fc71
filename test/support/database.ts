import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { inject } from 'vitest';
import type { DatabaseHandle, DatabaseOptions } from '../../src/db/database-handle.js';
import { openEmbedded } from '../../src/db/pglite-connector.js';
import { connectPostgres } from '../../src/db/postgres-connector.js';
import type { Database } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { readDatabaseReportZone, rezoneRollups } from '../../src/db/rollups.js';

export interface TestDatabase {
  handle: DatabaseHandle;
  /** Connection URL of this database; undefined on the embedded PGlite. */
  url: string | undefined;
  /** The database's report zone, as `npm run migrate` with REPORT_TIMEZONE set to it would make it. */
  zone: string;
  /** Opens another handle on the same database, e.g. one that states another report zone; a PostgreSQL server only. */
  reopen(options?: Partial<DatabaseOptions>): Promise<DatabaseHandle>;
  /**
   * Runs `work` on a session that reports in `zone`, as a gateway configured for it would: a session of its own
   * on a server; on the embedded PGlite, which has one session only, that session, switched to `zone` for the
   * while and back after.
   */
  inReportZone<T>(zone: string, work: (db: Kysely<Database>) => Promise<T>): Promise<T>;
  drop(): Promise<void>;
}

/** `url` with its database replaced by `database`. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Migrates `handle`'s database and makes `zone` its report zone, as `npm run migrate` does for a fresh one. */
async function migrateInZone(handle: DatabaseHandle, zone: string): Promise<void> {
  await migrateToLatest(handle);
  if ((await readDatabaseReportZone(handle.db)).rollups !== zone) await rezoneRollups(handle.db, zone);
}

/**
 * A fresh, migrated database of its own for one test file, reporting in `reportTimezone` (UTC by default). Its
 * handle states that zone on every session, as a gateway's direct connections do. `serverUrl` (an admin URL)
 * puts it on another PostgreSQL server than the suite's.
 */
export async function createTestDatabase(
  options: Partial<DatabaseOptions> = {},
  serverUrl?: string,
): Promise<TestDatabase> {
  const adminUrl = serverUrl ?? inject('databaseUrl');
  const zone = options.reportTimezone ?? 'UTC';
  const opts: DatabaseOptions = { ...options, reportTimezone: zone };
  if (!adminUrl) {
    const handle = await openEmbedded(undefined, opts);
    await migrateInZone(handle, zone);
    return {
      handle,
      url: undefined,
      zone,
      reopen: async () => {
        throw new Error('the embedded database cannot be opened twice');
      },
      inReportZone: async (other, work) => {
        const setZone = (name: string) =>
          sql`SELECT set_config('marketpulse.report_timezone', ${name}, false)`.execute(handle.db);
        await setZone(other);
        try {
          return await work(handle.db);
        } finally {
          await setZone(zone);
        }
      },
      drop: () => handle.close(),
    };
  }
  const name = `mp_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(adminUrl, name);
  // Migrated on a session of its own, as `npm run migrate` would; the test's handle opens after that.
  const migrator = connectPostgres(url, { poolMax: 1, statementTimeoutMs: 0 });
  try {
    await migrateInZone(migrator, zone);
  } finally {
    await migrator.close();
  }
  const handle = connectPostgres(url, opts);
  const opened: DatabaseHandle[] = [handle];
  const reopen = async (more: Partial<DatabaseOptions> = {}) => {
    const another = connectPostgres(url, { ...opts, ...more });
    opened.push(another);
    return another;
  };
  return {
    handle,
    url,
    zone,
    reopen,
    inReportZone: async (other, work) => {
      const session = await reopen({ reportTimezone: other, poolMax: 1 });
      return work(session.db);
    },
    drop: async () => {
      await Promise.all(opened.map((h) => h.close().catch(() => undefined)));
      const dropper = new pg.Client({ connectionString: adminUrl });
      await dropper.connect();
      try {
        await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
    },
  };
}
