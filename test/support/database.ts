import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { inject } from 'vitest';
import { connectPostgres, openEmbedded, type DatabaseHandle, type DatabaseOptions } from '../../src/db/create-database.js';
import type { Database } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { ensureRollupTimezone } from '../../src/db/rollups.js';

export interface TestDatabase {
  handle: DatabaseHandle;
  /** Connection URL of this database; undefined on the embedded PGlite. */
  url: string | undefined;
  /** Opens another handle on the same database, e.g. with another REPORT_TIMEZONE; a PostgreSQL server only. */
  reopen(options?: Partial<DatabaseOptions>): Promise<DatabaseHandle>;
  /**
   * Runs `work` on a session that reports in `zone`, as a gateway configured for it would: a session of its own
   * on a server; on the embedded PGlite, which has one session only, that session, switched to `zone` for the
   * while and back after.
   */
  inReportZone<T>(zone: string, work: (db: Kysely<Database>) => Promise<T>): Promise<T>;
  drop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** A fresh, migrated database of its own for one test file. */
export async function createTestDatabase(options: Partial<DatabaseOptions> = {}): Promise<TestDatabase> {
  const adminUrl = inject('databaseUrl');
  const opts: DatabaseOptions = { reportTimezone: 'UTC', ...options };
  if (!adminUrl) {
    const handle = await openEmbedded(undefined, opts);
    await migrateToLatest(handle);
    await ensureRollupTimezone(handle.db, opts.reportTimezone);
    return {
      handle,
      url: undefined,
      reopen: async () => {
        throw new Error('the embedded database cannot be opened twice');
      },
      inReportZone: async (zone, work) => {
        const setZone = (name: string) => sql`SELECT set_config('marketpulse.report_timezone', ${name}, false)`.execute(handle.db);
        await setZone(zone);
        try {
          return await work(handle.db);
        } finally {
          await setZone(opts.reportTimezone);
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
  const handle = connectPostgres(url, opts);
  await migrateToLatest(handle);
  await ensureRollupTimezone(handle.db, opts.reportTimezone);
  const opened: DatabaseHandle[] = [handle];
  const reopen = async (more: Partial<DatabaseOptions> = {}) => {
    const another = connectPostgres(url, { ...opts, ...more });
    opened.push(another);
    return another;
  };
  return {
    handle,
    url,
    reopen,
    inReportZone: async (zone, work) => {
      const session = await reopen({ reportTimezone: zone, poolMax: 1 });
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
