import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';
import { observeStatement } from '../observability/metrics.js';
import { currentRequest } from '../observability/request-context.js';
import { isDatabaseEmpty, seedDatabase } from '../seed/seed-database.js';
import { connectPostgres, openEmbedded, type DatabaseHandle, type DatabaseOptions } from './create-database.js';
import { migrateToLatest } from './migrator.js';
import { ensureRollupTimezone } from './rollups.js';

type Logger = Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>;

/**
 * DATABASE_URL set: that PostgreSQL, migrated separately with `npm run migrate`.
 * Not set: the embedded PostgreSQL under DATA_DIR, migrated with the same SQL files and loaded with demo
 * data on first start, so a newcomer sees real figures at once.
 */
export async function openConfiguredDatabase(config: Config, log: Logger): Promise<DatabaseHandle> {
  const options: DatabaseOptions = {
    reportTimezone: config.REPORT_TIMEZONE,
    poolMax: config.PG_POOL_MAX,
    connectTimeoutMs: config.PG_CONNECT_TIMEOUT_MS,
    statementTimeoutMs: config.PG_STATEMENT_TIMEOUT_MS,
    onError: (error) => log.warn({ err: error }, 'idle database connection failed'),
    onStatement: observeStatement,
    sessionLabel: () => currentRequest()?.requestId,
  };
  if (config.DATABASE_URL) {
    const handle = connectPostgres(config.DATABASE_URL, options);
    await alignRollups(handle, config.REPORT_TIMEZONE, log);
    return handle;
  }

  const dataDir = path.resolve(config.DATA_DIR, 'pgdata');
  await mkdir(dataDir, { recursive: true });
  log.info({ dataDir }, 'no DATABASE_URL: using the embedded PostgreSQL');
  const handle = await openEmbedded(dataDir, options);
  await migrateToLatest(handle);
  if (await isDatabaseEmpty(handle.db)) {
    log.info({ transactions: config.EMBEDDED_SEED_TRANSACTIONS }, 'first start: loading demo data');
    const summary = await seedDatabase(handle.db, { transactions: config.EMBEDDED_SEED_TRANSACTIONS });
    log.info(summary, 'demo data loaded');
  }
  await alignRollups(handle, config.REPORT_TIMEZONE, log);
  return handle;
}

async function alignRollups(handle: DatabaseHandle, zone: string, log: Logger) {
  const started = Date.now();
  const previous = await ensureRollupTimezone(handle.db, zone);
  if (previous !== null) {
    log.warn({ from: previous, to: zone, ms: Date.now() - started }, 'REPORT_TIMEZONE changed: rebuilt the rollups for the new report days');
  }
}
