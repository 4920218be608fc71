import { runApiKeyCommand } from '../auth/api-key-command.js';
import { loadConfig } from '../config/config.js';
import { connectPostgres } from '../db/postgres-connector.js';

// `npm run api-key -- create|list|revoke`: manages the API keys in DATABASE_URL (migrate it first).

const connection = loadConfig().database.postgres;
if (!connection) {
  console.error('DATABASE_URL is not set: API keys live in PostgreSQL; point DATABASE_URL at the migrated database.');
  process.exit(2);
}
const handle = connectPostgres(connection.directUrl, { poolMax: 1 });
try {
  process.exitCode = await runApiKeyCommand(handle.db, process.argv.slice(2), {
    out: (line) => console.log(line),
    err: (line) => console.error(line),
  });
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
} finally {
  await handle.close();
}
