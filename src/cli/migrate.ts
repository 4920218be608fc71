import { loadConfig } from '../config/config.js';
import { connectPostgres } from '../db/postgres-connector.js';
import { migrateToLatest } from '../db/migrator.js';
import { restoreSessionReportZone, rezoneRollups } from '../db/rollups.js';

// `npm run migrate`: applies sql/migrations to the database (DATABASE_DIRECT_URL, else DATABASE_URL). Applied files
// are recorded, so reruns are no-ops. The run that creates the rollups (a fresh database) builds them for
// REPORT_TIMEZONE (default UTC); after that the zone is the database's, changed only by `npm run rollups`.

const ROLLUPS_MIGRATION = '004_rollups';

const config = loadConfig();
const connection = config.database.postgres;
if (!connection) {
  console.error(
    'DATABASE_URL is not set: point it at the PostgreSQL to migrate (the embedded database migrates itself on start).',
  );
  process.exit(2);
}
// One session: what a migration sets for its session (the report zone) holds for the files after it.
const handle = connectPostgres(connection.directUrl, { poolMax: 1, statementTimeoutMs: 0 });
try {
  const { results = [] } = await migrateToLatest(handle);
  for (const result of results) console.log(`${result.status.toLowerCase()}: ${result.migrationName}`);
  console.log(results.length === 0 ? 'database is up to date' : `applied ${results.length} migration(s)`);
  const fresh = results.some((result) => result.migrationName === ROLLUPS_MIGRATION && result.status === 'Success');
  let zone = await restoreSessionReportZone(handle.db);
  if (fresh && zone.rollups !== config.database.reportTimezone) {
    await rezoneRollups(handle.db, config.database.reportTimezone);
    zone = { rollups: config.database.reportTimezone, sessions: config.database.reportTimezone };
  }
  console.log(`the database reports days in ${zone.rollups}`);
  const asked = process.env.REPORT_TIMEZONE?.trim();
  if (!fresh && asked && asked !== zone.rollups) {
    console.log(
      `note: REPORT_TIMEZONE=${asked} is not applied to a migrated database; re-zone it with \`npm run rollups -- --timezone ${asked}\` ` +
        `(gateways with REPORT_TIMEZONE=${asked} stay not ready until then)`,
    );
  }
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
} finally {
  await handle.close();
}
