import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import type { Database } from './database.js';
import type { DatabaseHandle } from './database-handle.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../sql/migrations/', import.meta.url));

/**
 * Serves the plain .sql files of sql/migrations to Kysely's Migrator, which records them in
 * kysely_migration, takes its lock and runs each file in a transaction. Files run in name order.
 */
class SqlFileMigrationProvider implements MigrationProvider {
  constructor(
    private readonly handle: DatabaseHandle,
    private readonly dir: string,
  ) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const migrations: Record<string, Migration> = {};
    for (const name of await readMigrationNames(this.dir)) {
      const script = await readFile(path.join(this.dir, `${name}.sql`), 'utf8');
      migrations[name] = { up: (db) => this.handle.runScript(db as Kysely<Database>, script) };
    }
    return migrations;
  }
}

export function createMigrator(handle: DatabaseHandle, dir = MIGRATIONS_DIR): Migrator {
  return new Migrator({ db: handle.db, provider: new SqlFileMigrationProvider(handle, dir) });
}

/** Applies every pending migration; throws with the failing file named if one fails. */
export async function migrateToLatest(handle: DatabaseHandle, dir = MIGRATIONS_DIR): Promise<MigrationResultSet> {
  const result = await createMigrator(handle, dir).migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- Kysely types it unknown; anything else is shown as JavaScript prints it
    const reason = result.error instanceof Error ? result.error.message : String(result.error);
    const what = failed ? `migration ${failed.migrationName} failed` : 'could not migrate';
    throw new Error(`${what}: ${reason}`, { cause: result.error });
  }
  return result;
}

/** PostgreSQL's SQLSTATE for a table that does not exist (a database never migrated). */
export const UNDEFINED_TABLE = '42P01';

/**
 * Of the `expected` migration names (readMigrationNames, which the readiness probe reads once and keeps), the
 * ones the database has not applied; all of them when it has applied none.
 */
export async function findPendingMigrations(handle: DatabaseHandle, expected: readonly string[]): Promise<string[]> {
  let applied: Set<string>;
  try {
    const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(handle.db);
    applied = new Set(rows.map((row) => row.name));
  } catch (error) {
    if ((error as { code?: unknown }).code === UNDEFINED_TABLE) return [...expected];
    throw error;
  }
  return expected.filter((name) => !applied.has(name));
}

/** The names migrations are recorded under: the .sql files of `dir`, without the extension, in order. */
export async function readMigrationNames(dir = MIGRATIONS_DIR): Promise<string[]> {
  return (await readdir(dir))
    .filter((file) => file.endsWith('.sql'))
    .sort()
    .map((file) => file.replace(/\.sql$/, ''));
}
