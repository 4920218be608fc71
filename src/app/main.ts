import 'reflect-metadata';
import { warnAboutDefaultSecrets, warnIfUnprotected } from '../auth/exposure-warning.js';
import { openCacheStore } from '../cache/cache-store.js';
import { closeRedisClient, createRedisClient } from '../cache/redis-cache.js';
import { ChangeListener } from '../changes/change-listener.js';
import { ConfigError, loadConfig, redactConfig } from '../config/config.js';
import { openConfiguredDatabase, openReadReplicas } from './open-database.js';
import { ReportZoneCheck } from '../db/report-zone.js';
import { readDatabaseReportZone } from '../db/rollups.js';
import { installGracefulShutdown } from './graceful-shutdown.js';
import { createGateway } from './create-gateway.js';
import { createLogger } from '../observability/logger.js';

function readConfig() {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}

/**
 * Start-up: config -> logger -> database -> cache and change listener -> schema and HTTP server -> listen, then
 * graceful shutdown on SIGTERM/SIGINT.
 */
export async function main(): Promise<void> {
  const config = readConfig();
  const logger = createLogger(config.server.logLevel);
  logger.info({ config: redactConfig(config) }, 'starting MarketPulse');
  warnIfUnprotected(config, logger);
  warnAboutDefaultSecrets(config, logger);

  const database = await openConfiguredDatabase(config.database, logger);
  // A gateway whose REPORT_TIMEZONE is not the database's starts anyway, not ready and refusing GraphQL, so that the
  // reason is in its log and in /readyz; it serves once the database is re-zoned to its zone.
  const reportZone = new ReportZoneCheck(
    config.database.reportTimezone,
    () => readDatabaseReportZone(database.db),
    logger.child({ component: 'report-zone' }),
  );
  await reportZone
    .check()
    .catch((error: unknown) =>
      logger.warn({ err: error }, "could not read the database's report zone; checking again on the first request"),
    );
  const changes = await ChangeListener.start(database, logger.child({ component: 'change-listener' }));
  // A re-zone announces its zone on the change feed; after the listener reconnects, announcements may be lost.
  changes.onReportZone((zone) => {
    if (zone !== undefined) reportZone.announced(zone);
    else void reportZone.check().catch(() => undefined);
  });
  // Report reads on DATABASE_READ_URL's replicas, each once it has replayed the data version heard last.
  const replicas = openReadReplicas(config.database, database, changes, logger.child({ component: 'read-replicas' }));
  if (replicas)
    logger.info(
      { replicas: replicas.names, maxWaitMs: config.database.readReplicaMaxWaitMs },
      'report reads go to read replicas',
    );
  // Redis by URL or through Sentinels; the same connection settings for the cache and the rate budgets.
  const redis = config.redis.connection;
  const store = openCacheStore({
    redis,
    keyPrefix: config.cache.keyPrefix,
    commandTimeoutMs: config.redis.commandTimeoutMs,
    maxMegabytes: config.cache.maxMegabytes,
    logger: logger.child({ component: 'cache' }),
  });
  logger.info({ store: store.kind, ttlSeconds: config.cache.ttlSeconds }, 'response cache');
  // Rate budgets get a client of their own, so that the cache's traffic never delays a request's budget check.
  const rateLimitRedis =
    redis && config.limits.rate.points > 0
      ? createRedisClient(redis, {
          commandTimeoutMs: config.redis.commandTimeoutMs,
          logger: logger.child({ component: 'rate-limit' }),
        })
      : undefined;
  const gateway = await createGateway(config, database, logger, {
    cacheStatus: () => store.status(),
    cache: {
      store: store.cache,
      ttlSeconds: config.cache.ttlSeconds,
      dataVersion: () => changes.version,
      hearsChanges: () => changes.hearsChanges,
      reportTimezone: config.database.reportTimezone,
    },
    ...(rateLimitRedis ? { rateLimitRedis } : {}),
    // Subscriptions are recomputed when the change feed announces a write.
    changes,
    reportZone,
    ...(replicas ? { replicas } : {}),
  });
  const address = await gateway.app.listen({ host: config.server.host, port: config.server.port });
  logger.info(`MarketPulse is serving ${address}/graphql`);

  installGracefulShutdown(
    {
      beginShutdown: () => gateway.beginShutdown(),
      // Closing the server also closes the subscription sockets (1001) and ends their live queries, before the
      // change listener and the database go.
      closeServer: () => gateway.app.close(),
      closeResources: async () => {
        await Promise.all([
          changes.close(),
          store.close(),
          rateLimitRedis && closeRedisClient(rateLimitRedis),
          replicas?.close(),
        ]);
        await database.close();
      },
    },
    { ...config.server.shutdown, logger },
  );
}
