import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { DatabaseConfig } from '../config/database.js';
import { observeRead, observeStatement, replicaFallbacks } from '../observability/metrics.js';
import { currentRequest } from '../observability/request-context.js';
import { isDatabaseEmpty, seedDatabase } from '../seed/seed-database.js';
import type { DatabaseHandle, DatabaseOptions } from '../db/database-handle.js';
import { openEmbedded } from '../db/pglite-connector.js';
import { connectPostgres } from '../db/postgres-connector.js';
import { migrateToLatest } from '../db/migrator.js';
import { ReadReplicas, type VersionFeed } from '../db/read-replicas.js';
import { readDatabaseReportZone, rezoneRollups } from '../db/rollups.js';
import type { Logger } from '../observability/logger.js';

/** How the gateway's pool connects to a PostgreSQL of DATABASE_URL (a read pool takes the same, with its own URL). */
export function gatewayDatabaseOptions(config: DatabaseConfig, log: Pick<Logger, 'warn'>): DatabaseOptions {
  const connection = config.postgres;
  return {
    reportTimezone: config.reportTimezone,
    poolMax: config.poolMax,
    connectTimeoutMs: config.connectTimeoutMs,
    statementTimeoutMs: config.statementTimeoutMs,
    pooled: connection?.pooled ?? false,
    preparedStatements: config.preparedStatements,
    ...(connection ? { listenUrl: connection.directUrl } : {}),
    onError: (error) => log.warn({ err: error }, 'idle database connection failed'),
    onStatement: observeStatement,
    requestLabel: () => currentRequest()?.requestId,
  };
}

/**
 * DATABASE_URL set: that PostgreSQL, migrated, and its rollups built or re-zoned, separately (`npm run migrate`,
 * `npm run rollups`): a gateway never rewrites a shared database's rollups.
 * Not set: the embedded PostgreSQL under DATA_DIR, migrated with the same SQL files, re-zoned to
 * REPORT_TIMEZONE and loaded with demo data on first start, so a newcomer sees real figures at once. It belongs
 * to this one process, which may rebuild its rollups.
 */
export async function openConfiguredDatabase(
  config: DatabaseConfig,
  log: Pick<Logger, 'info' | 'warn' | 'error'>,
): Promise<DatabaseHandle> {
  const options = gatewayDatabaseOptions(config, log);
  if (config.postgres) return connectPostgres(config.postgres.url, options);

  const dataDir = path.resolve(config.dataDir, 'pgdata');
  await mkdir(dataDir, { recursive: true });
  log.info({ dataDir }, 'no DATABASE_URL: using the embedded PostgreSQL');
  const handle = await openEmbedded(dataDir, options);
  await migrateToLatest(handle);
  const empty = await isDatabaseEmpty(handle.db);
  const zone = await readDatabaseReportZone(handle.db);
  if (zone.rollups !== config.reportTimezone) {
    const started = Date.now();
    await rezoneRollups(handle.db, config.reportTimezone);
    if (!empty) {
      log.warn(
        { from: zone.rollups, to: config.reportTimezone, ms: Date.now() - started },
        'REPORT_TIMEZONE changed: rebuilt the embedded rollups for the new report days',
      );
    }
  }
  if (empty) {
    log.info({ transactions: config.embeddedSeedTransactions }, 'first start: loading demo data');
    const summary = await seedDatabase(handle.db, { transactions: config.embeddedSeedTransactions });
    log.info(summary, 'demo data loaded');
  }
  return handle;
}

/**
 * The streaming replicas of DATABASE_READ_URL, for report reads, or undefined without any. Their pools connect
 * as the primary's does (the same options: start-up settings or cancel requests, prepared statements, request
 * ids, PG_POOL_MAX connections each); data versions are heard on `changes`.
 */
export function openReadReplicas(
  config: DatabaseConfig,
  database: DatabaseHandle,
  changes: VersionFeed,
  log: Pick<Logger, 'info' | 'warn' | 'error'>,
): ReadReplicas | undefined {
  const connection = config.postgres;
  if (!connection || connection.readUrls.length === 0 || !database.statements) return undefined;
  const { listenUrl: _listenUrl, ...options } = gatewayDatabaseOptions(config, log);
  return new ReadReplicas({ db: database.db, statements: database.statements }, connection.readUrls, options, {
    maxWaitMs: config.readReplicaMaxWaitMs,
    changes,
    logger: log,
    onRead: observeRead,
    onFallback: (replica, reason) => replicaFallbacks.inc({ replica, reason }),
  });
}
