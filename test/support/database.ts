import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { connectPostgres, openEmbedded, type DatabaseHandle, type DatabaseOptions } from '../../src/db/create-database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { readDatabaseReportZone, rezoneRollups } from '../../src/db/rollups.js';

export interface TestDatabase {
  handle: DatabaseHandle;
  /** Connection URL of this database; undefined on the embedded PGlite. */
  url: string | undefined;
  /** The database's report zone, as `npm run migrate` with REPORT_TIMEZONE set to it would make it. */
  zone: string;
  /** Opens another handle on the same database, e.g. one that states another report zone. */
  reopen(options?: Partial<DatabaseOptions>): Promise<DatabaseHandle>;
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
export async function createTestDatabase(options: Partial<DatabaseOptions> = {}, serverUrl?: string): Promise<TestDatabase> {
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
  return {
    handle,
    url,
    zone,
    reopen: async (more = {}) => {
      const another = connectPostgres(url, { ...opts, ...more });
      opened.push(another);
      return another;
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
