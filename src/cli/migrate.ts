import { loadConfig } from '../config.js';
import { connectPostgres } from '../db/create-database.js';
import { migrateToLatest } from '../db/migrator.js';

// `npm run migrate`: applies sql/migrations to DATABASE_URL. Applied files are recorded, so reruns are no-ops.

const config = loadConfig();
if (!config.DATABASE_URL) {
  console.error('DATABASE_URL is not set: point it at the PostgreSQL to migrate (the embedded database migrates itself on start).');
  process.exit(2);
}
const handle = connectPostgres(config.DATABASE_URL, { reportTimezone: config.REPORT_TIMEZONE });
try {
  const { results = [] } = await migrateToLatest(handle);
  for (const result of results) console.log(`${result.status.toLowerCase()}: ${result.migrationName}`);
  console.log(results.length === 0 ? 'database is up to date' : `applied ${results.length} migration(s)`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
} finally {
  await handle.close();
}
