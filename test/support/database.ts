import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { connectPostgres, openEmbedded, type DatabaseHandle, type DatabaseOptions } from '../../src/db/create-database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { ensureRollupTimezone } from '../../src/db/rollups.js';

export interface TestDatabase {
  handle: DatabaseHandle;
  /** Connection URL of this database; undefined on the embedded PGlite. */
  url: string | undefined;
  /** Opens another handle on the same database, e.g. with another REPORT_TIMEZONE. */
  reopen(options?: Partial<DatabaseOptions>): Promise<DatabaseHandle>;
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
  return {
    handle,
    url,
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
