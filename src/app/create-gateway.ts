import type { ApolloServer } from '@apollo/server';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type { GraphQLFormattedError } from 'graphql';
import type { Redis } from 'ioredis';
import { AuditWriter, GATEWAY_MAX_PENDING, GATEWAY_PRUNE_INTERVAL_MS } from '../audit/audit-writer.js';
import { createAuthenticator } from '../auth/authenticate.js';
import { FailedKeyLookups } from '../auth/failed-key-lookups.js';
import { createResponseCaching, type GatewayCache } from '../cache/response-cache.js';
import type { ChangeFeed } from '../changes/change-feed.js';
import type { DatabaseHandle } from '../db/database-handle.js';
import type { ReadReplicas } from '../db/read-replicas.js';
import type { ReportZoneCheck } from '../db/report-zone.js';
import type { GraphQLContext } from '../graphql/context.js';
import { CursorCodec } from '../graphql/cursor.js';
import { createFormatError } from '../graphql/errors.js';
import { introspectionRule, mayIntrospect } from '../graphql/introspection.js';
import type { CacheStatus } from '../http/ready.route.js';
import { queryLimitsFrom } from '../limits/limits-config.js';
import { limitErrorCodes, type QueryLimits } from '../limits/query-limits.js';
import { SeriesSpan } from '../modules/revenue/revenue.cost.js';
import type { GatewayConfig } from './server-config.js';
import type { SubscriptionServer } from '../subscriptions/ws-server.js';
import { startApollo } from './apollo-server.js';
import { registerGraphQLRoute } from './graphql-route.js';
import { createHttpServer, createRateBudget, registerHttpPlugins, rateKeyOf } from './http-server.js';
import { createContext } from './request-context.js';
import { buildGatewaySchema } from './schema.js';

export type { GatewayConfig } from './server-config.js';

export interface GatewayOptions {
  /** Response cache and persisted-query store; without one, nothing is cached and responses carry no freshness. */
  cache?: GatewayCache;
  /** Where rate budgets are shared between gateways; without it, each gateway counts its own. */
  rateLimitRedis?: Redis;
  /** Where changes to the data are heard; with one, GraphQL subscriptions are served over WebSocket on /graphql. */
  changes?: ChangeFeed;
  /** What /readyz reports about the cache store (Redis up or down, or the in-process LRU). */
  cacheStatus?: () => CacheStatus;
  /**
   * Whether REPORT_TIMEZONE is the database's report zone; while it is not, /readyz answers 503 and GraphQL
   * requests and subscriptions get SERVICE_UNAVAILABLE, with the reason.
   */
  reportZone?: ReportZoneCheck;
  /**
   * Streaming replicas for report reads (GraphQL queries and exports); /readyz and /metrics report them. Without
   * them every read is on `database`. Writes, API keys, the audit trail and subscriptions stay on `database`.
   */
  replicas?: ReadReplicas;
}

export interface Gateway {
  app: FastifyInstance;
  apollo: ApolloServer<GraphQLContext>;
  /** The audit trail's writer; closing the app writes what it still holds. */
  audit: AuditWriter;
  /** Starts shutting down: /readyz answers 503 from now on, while requests are still served. */
  beginShutdown(): void;
  /** The WebSocket side, when the gateway hears changes (GatewayOptions.changes). */
  subscriptions?: SubscriptionServer;
}

/**
 * The HTTP surface: POST and GET /graphql (with Apollo Sandbox outside production or with SANDBOX), /export/*, /healthz, /readyz
 * and /metrics. Built in steps: the services a request uses (authentication, rate budget, audit trail, response
 * cache, schema), Apollo, the HTTP plugins, then the GraphQL route with its WebSocket side.
 */
export async function createGateway(
  config: GatewayConfig,
  database: DatabaseHandle,
  logger: FastifyBaseLogger,
  options: GatewayOptions = {},
): Promise<Gateway> {
  const production = config.server.nodeEnv === 'production';
  const limits: QueryLimits = queryLimitsFrom(config.limits.query);
  const app = createHttpServer(config.server, limits, logger);
  let stopping = false;
  const cursors = new CursorCodec(config.auth.cursorSecret);
  const failuresPerMinute = config.auth.apiKeyFailuresPerMinute;
  const authenticate = createAuthenticator(
    config.auth,
    database.db,
    failuresPerMinute > 0 ? new FailedKeyLookups(failuresPerMinute) : undefined,
  );
  const rateBudget = createRateBudget(config, options.rateLimitRedis);
  const audit = new AuditWriter(database.db, app.log.child({ component: 'audit' }), {
    ...config.audit,
    maxPending: GATEWAY_MAX_PENDING,
    pruneIntervalMs: GATEWAY_PRUNE_INTERVAL_MS,
  });
  const persistedQueryMaxBytes = config.cache.persistedQueryMaxBytes;
  const caching = options.cache ? createResponseCaching(options.cache, { persistedQueryMaxBytes }) : undefined;

  // Report reads: on a replica that has replayed the version the answer is stamped with, else on the primary.
  const reads = options.replicas?.db ?? database.db;
  const schema = await buildGatewaySchema();
  // Revenue series with an open end are priced by the data's first and last day, read again after changes.
  const seriesSpan = new SeriesSpan(database.db, app.log.child({ component: 'cost' }));
  if (options.changes) {
    const unhear = options.changes.onChange(() => seriesSpan.changed());
    app.addHook('onClose', async () => unhear());
  }
  const { reportZone } = options;
  const formatError = createFormatError({
    logger: app.log,
    exposeDetails: config.server.nodeEnv === 'development',
    // A session in another zone than the rollups: the database may have been re-zoned; read its zone again.
    ...(reportZone ? { onReportZoneError: () => void reportZone.check().catch(() => undefined) } : {}),
  });
  const formatLimits = limitErrorCodes();
  // Limit codes put back, then masking: for queries and subscriptions.
  const formatGraphQLError = (formatted: GraphQLFormattedError, error: unknown) =>
    formatError(formatLimits(formatted), error);
  const introspection = introspectionRule(config);
  const apollo = await startApollo(app, {
    config,
    schema,
    limits,
    formatError: formatGraphQLError,
    seriesSpan,
    caching,
    persistedQueryMaxBytes,
    audit,
    introspection,
  });

  // After Apollo has drained (its drain plugin runs in onClose too, registered earlier), the trail is complete.
  app.addHook('onClose', async () => audit.close());
  await registerHttpPlugins(app, {
    config,
    database,
    limits,
    authenticate,
    rateBudget,
    caching,
    cacheStatus: options.cacheStatus,
    reportZone,
    replicas: options.replicas,
    reads,
    stopping: () => stopping,
    schema,
    audit,
  });
  // One context per request, with the caller authenticated in onRequest.
  const contextFor = async (request: FastifyRequest) =>
    createContext(reads, cursors, app.principalOf(request), {
      requestId: request.id,
      clientIp: request.ip ?? null,
      primary: database.db,
      ...(rateBudget ? { chargeCost: (points: number) => request.chargeCost(points) } : {}),
    });
  const beginShutdown = () => {
    stopping = true;
  };
  const subscriptions = await registerGraphQLRoute(
    app,
    apollo,
    contextFor,
    options.changes && {
      schema,
      authenticate,
      limits,
      config: config.subscriptions,
      changes: options.changes,
      newContext: (principal) => createContext(database.db, cursors, principal),
      logger: app.log.child({ component: 'subscriptions' }),
      production,
      formatError: formatGraphQLError,
      showsSuggestions: (principal) => mayIntrospect(introspection, principal),
      principalKey: rateKeyOf,
      ...(rateBudget ? { rateLimit: { budget: rateBudget } } : {}),
      corsOrigins: config.server.corsOrigins,
      seriesSpan,
      audit,
      ...(reportZone ? { refusal: () => reportZone.refusal } : {}),
    },
  );
  return { app, apollo, audit, beginShutdown, ...(subscriptions ? { subscriptions } : {}) };
}
