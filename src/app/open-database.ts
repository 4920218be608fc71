import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { postgresConnection, type Config } from '../config/config.js';
import { observeRead, observeStatement, replicaFallbacks } from '../observability/metrics.js';
import { currentRequest } from '../observability/request-context.js';
import { isDatabaseEmpty, seedDatabase } from '../seed/seed-database.js';
import { connectPostgres, openEmbedded, type DatabaseHandle, type DatabaseOptions } from '../db/create-database.js';
import { migrateToLatest } from '../db/migrator.js';
import { ReadReplicas, type VersionFeed } from '../db/read-replicas.js';
import { readDatabaseReportZone, rezoneRollups } from '../db/rollups.js';
import type { Logger } from '../observability/logger.js';


/** How the gateway's pool connects to a PostgreSQL of DATABASE_URL (a read pool takes the same, with its own URL). */
export function gatewayDatabaseOptions(config: Config, log: Pick<Logger, 'warn'>): DatabaseOptions {
  const connection = postgresConnection(config);
  return {
    reportTimezone: config.REPORT_TIMEZONE,
    poolMax: config.PG_POOL_MAX,
    connectTimeoutMs: config.PG_CONNECT_TIMEOUT_MS,
    statementTimeoutMs: config.PG_STATEMENT_TIMEOUT_MS,
    pooled: connection?.pooled ?? false,
    preparedStatements: connection?.preparedStatements ?? true,
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
export async function openConfiguredDatabase(config: Config, log: Pick<Logger, 'info' | 'warn' | 'error'>): Promise<DatabaseHandle> {
  const options = gatewayDatabaseOptions(config, log);
  if (config.DATABASE_URL) return connectPostgres(config.DATABASE_URL, options);

  const dataDir = path.resolve(config.DATA_DIR, 'pgdata');
  await mkdir(dataDir, { recursive: true });
  log.info({ dataDir }, 'no DATABASE_URL: using the embedded PostgreSQL');
  const handle = await openEmbedded(dataDir, options);
  await migrateToLatest(handle);
  const empty = await isDatabaseEmpty(handle.db);
  const zone = await readDatabaseReportZone(handle.db);
  if (zone.rollups !== config.REPORT_TIMEZONE) {
    const started = Date.now();
    await rezoneRollups(handle.db, config.REPORT_TIMEZONE);
    if (!empty) {
      log.warn({ from: zone.rollups, to: config.REPORT_TIMEZONE, ms: Date.now() - started }, 'REPORT_TIMEZONE changed: rebuilt the embedded rollups for the new report days');
    }
  }
  if (empty) {
    log.info({ transactions: config.EMBEDDED_SEED_TRANSACTIONS }, 'first start: loading demo data');
    const summary = await seedDatabase(handle.db, { transactions: config.EMBEDDED_SEED_TRANSACTIONS });
    log.info(summary, 'demo data loaded');
  }
  return handle;
}

/**
 * The streaming replicas of DATABASE_READ_URL, for report reads, or undefined without any. Their pools connect
 * as the primary's does (the same options: start-up settings or cancel requests, prepared statements, request
 * ids, PG_POOL_MAX connections each); data versions are heard on `changes`.
 */
export function openReadReplicas(config: Config, database: DatabaseHandle, changes: VersionFeed, log: Pick<Logger, 'info' | 'warn' | 'error'>): ReadReplicas | undefined {
  const connection = postgresConnection(config);
  if (!connection || connection.readUrls.length === 0 || !database.statements) return undefined;
  const { listenUrl: _listenUrl, ...options } = gatewayDatabaseOptions(config, log);
  return new ReadReplicas({ db: database.db, statements: database.statements }, connection.readUrls, options, {
    maxWaitMs: config.READ_REPLICA_MAX_WAIT_MS,
    changes,
    logger: log,
    onRead: observeRead,
    onFallback: (replica, reason) => replicaFallbacks.inc({ replica, reason }),
  });
}
