import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import fastifyApollo, { fastifyApolloDrainPlugin, fastifyApolloHandler } from '@as-integrations/fastify';
import fastifyCors from '@fastify/cors';
import type { Redis } from 'ioredis';
import type { GraphQLFormattedError } from 'graphql';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { createAuthHook } from '../http/auth.plugin.js';
import { createAuthenticator, type AuthConfig } from '../auth/authenticate.js';
import { FailedKeyLookups } from '../auth/failed-key-lookups.js';
import { createCacheHitShortcut } from '../http/cache-hit-shortcut.plugin.js';
import { createResponseCaching, type GatewayCache } from '../cache/response-cache.js';
import { registrationPricePlugin } from '../cache/persisted-documents.js';
import type { Config } from '../config/config.js';
import type { DatabaseHandle } from '../db/create-database.js';
import type { ReportZoneCheck, ZoneVerdict } from '../db/report-zone.js';
import { createContext, type GraphQLContext } from '../graphql/context.js';
import { ErrorCode, createFormatError, reportZoneUnavailable } from '../graphql/errors.js';
import { graphqlRouteGuard } from '../http/early-answer.js';
import { buildGatewaySchema } from './schema.js';
import { createDocumentStore } from '../cache/document-store.js';
import { serviceUnavailableStatusPlugin } from '../http/unavailable-status.plugin.js';
import { refusedDocumentStatusPlugin } from '../http/refused-document-status.plugin.js';
import { costLimitPlugin, limitErrorCodes, queryLimitRules, registerHttpLimits, type QueryLimits } from '../limits/query-limits.js';
import { queryLimitsFrom, type QueryLimitsConfig } from '../limits/limits-config.js';
import { registerNestingLimit } from '../limits/nesting.js';
import { SeriesSpan } from '../modules/revenue/revenue.cost.js';
import { AuditWriter, defaultAuditWriterOptions } from '../audit/audit-writer.js';
import { auditPlugin } from '../audit/audit.plugin.js';
import { CursorCodec } from '../graphql/cursor.js';
import { RateBudget, createRateLimitHooks } from '../limits/rate-limit.js';
import { ANONYMOUS, type Principal } from '../auth/principal.js';
import { noSubscriptionsOverHttpPlugin } from '../subscriptions/no-subscriptions-over-http.plugin.js';
import { defaultSubscriptionConfig, type SubscriptionConfig } from '../subscriptions/subscription-config.js';
import { registerSubscriptionServer, type ChangeFeed, type SubscriptionServer } from '../subscriptions/ws-server.js';
import { observePool } from '../observability/metrics.js';
import { requestIdFrom } from '../observability/request-context.js';
import { observeSubscriptions } from '../subscriptions/subscription.metrics.js';
import { registerRequestObservation } from '../http/request-log.plugin.js';
import { exportRouteGuard } from '../exports/export.errors.js';
import { exportRoutes } from '../exports/export.route.js';
import { guardOf } from '../http/guarded-route.js';
import { registerHealthRoute } from '../http/health.route.js';
import { registerMetricsRoute } from '../http/metrics.route.js';
import { registerProtocolErrors } from '../http/protocol-errors.js';
import { registerReadyRoute, type CacheStatus } from '../http/ready.route.js';

export type ServerConfig = Pick<Config, 'NODE_ENV' | 'CURSOR_SECRET' | 'HEALTH_TIMEOUT_MS'> &
  Partial<Pick<Config, 'REPORT_TIMEZONE' | 'REQUEST_READ_TIMEOUT_MS' | 'DOCUMENT_CACHE_MB' | 'PERSISTED_QUERY_MAX_BYTES' | 'API_KEY_FAILURES_PER_MINUTE' | 'AUDIT_FLUSH_INTERVAL_MS' | 'AUDIT_BATCH_SIZE' | 'AUDIT_RETENTION_DAYS' | 'TRUST_PROXY' | 'RATE_LIMIT_POINTS' | 'RATE_LIMIT_WINDOW_SECONDS' | 'CACHE_KEY_PREFIX' | 'CORS_ORIGINS'>> &
  // Without AUTH_MODE the gateway authenticates nobody (AUTH_MODE=none).
  Partial<AuthConfig> &
  // Unset limits take their defaults (src/graphql/limits/query-limits.ts).
  Partial<QueryLimitsConfig> &
  // Unset subscription settings take their defaults (src/subscriptions/ws-server.ts).
  Partial<SubscriptionConfig>;

const GRAPHQL_PATH = '/graphql';
// What a 503 tells clients to wait, as the error formatter's answers do (unavailable-status.plugin.ts).
const RETRY_AFTER_SECONDS = 5;
const DEFAULT_DOCUMENT_CACHE_MB = 32;
const DEFAULT_PERSISTED_QUERY_MAX_BYTES = 8 * 1024;
const DEFAULT_API_KEY_FAILURES_PER_MINUTE = 20;
const DEFAULT_REQUEST_READ_TIMEOUT_MS = 10_000;

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

function definedOnly(config: ServerConfig): Partial<SubscriptionConfig> {
  const picked: Partial<Record<keyof SubscriptionConfig, number>> = {};
  for (const name of Object.keys(defaultSubscriptionConfig) as (keyof SubscriptionConfig)[]) {
    if (config[name] !== undefined) picked[name] = config[name];
  }
  return picked;
}

/** The HTTP surface: POST and GET /graphql (with Apollo Sandbox outside production), /export/*, /healthz, /readyz and /metrics. */
export async function createGateway(
  config: ServerConfig,
  database: DatabaseHandle,
  logger: FastifyBaseLogger,
  options: GatewayOptions = {},
): Promise<Gateway> {
  const production = config.NODE_ENV === 'production';
  const limits: QueryLimits = queryLimitsFrom(config);
  const readTimeoutMs = config.REQUEST_READ_TIMEOUT_MS ?? DEFAULT_REQUEST_READ_TIMEOUT_MS;
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: limits.maxBodyBytes,
    // A client gets this long to send a whole request, headers and body: one dripping a byte at a time is cut
    // (Node answers 408 and closes). Node stops timing a request once it is read, so a slow download of the
    // answer is not cut, and a WebSocket leaves HTTP behind when it upgrades. Node checks every interval.
    requestTimeout: readTimeoutMs,
    http: { headersTimeout: readTimeoutMs, connectionsCheckingInterval: Math.min(1_000, Math.max(100, Math.floor(readTimeoutMs / 4))) },
    // Clients may send their own request id (x-request-id); otherwise one is made (request-context.ts).
    requestIdHeader: false,
    genReqId: (request) => requestIdFrom(request.headers['x-request-id']),
    // One line per request, written by request-log.ts with what Fastify's two lines lack.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    // Behind a load balancer, the client address (audit trail, rate limits) comes from X-Forwarded-For.
    trustProxy: config.TRUST_PROXY ?? false,
  });
  let stopping = false;
  const cursors = new CursorCodec(config.CURSOR_SECRET);
  const failuresPerMinute = config.API_KEY_FAILURES_PER_MINUTE ?? DEFAULT_API_KEY_FAILURES_PER_MINUTE;
  const authenticate = createAuthenticator(config, database.db, failuresPerMinute > 0 ? new FailedKeyLookups(failuresPerMinute) : undefined);
  // Authentication and rate budgets guard GraphQL operations and exports, each refused in its own error shape.
  const guarded = [graphqlRouteGuard(GRAPHQL_PATH), exportRouteGuard];
  const auth = createAuthHook(authenticate, guarded, config.AUTH_MODE === 'required');
  // Budgets are per principal: an API key, a JWT subject, or the client address when nobody is authenticated.
  // One budget for HTTP requests and subscriptions alike, so a principal cannot spend twice by using both; the
  // per-principal cap on subscriptions counts by the same key.
  const rateKeyOf = (principal: Principal, clientIp: string) => (principal === ANONYMOUS ? `ip:${clientIp}` : principal.id);
  const rateBudget =
    config.RATE_LIMIT_POINTS && config.RATE_LIMIT_POINTS > 0
      ? new RateBudget({
          points: config.RATE_LIMIT_POINTS,
          windowSeconds: config.RATE_LIMIT_WINDOW_SECONDS ?? 60,
          ...(options.rateLimitRedis ? { redis: options.rateLimitRedis } : {}),
          keyPrefix: config.CACHE_KEY_PREFIX ?? 'marketpulse:',
        })
      : undefined;
  const rateLimit = rateBudget
    ? createRateLimitHooks(rateBudget, guarded, (request) => rateKeyOf(auth.principalOf(request), request.ip))
    : undefined;
  // One context per request, with the caller authenticated in onRequest.
  const contextFor = async (request: FastifyRequest) =>
    createContext(database.db, cursors, auth.principalOf(request), {
      requestId: request.id,
      clientIp: request.ip ?? null,
      ...(rateLimit ? { chargeCost: (points: number) => rateLimit.chargeCost(request, points) } : {}),
    });
  const audit = new AuditWriter(database.db, app.log.child({ component: 'audit' }), {
    ...defaultAuditWriterOptions,
    ...(config.AUDIT_FLUSH_INTERVAL_MS ? { flushIntervalMs: config.AUDIT_FLUSH_INTERVAL_MS } : {}),
    ...(config.AUDIT_BATCH_SIZE ? { batchSize: config.AUDIT_BATCH_SIZE } : {}),
    ...(config.AUDIT_RETENTION_DAYS !== undefined ? { retentionDays: config.AUDIT_RETENTION_DAYS } : {}),
  });
  const persistedQueryMaxBytes = config.PERSISTED_QUERY_MAX_BYTES ?? DEFAULT_PERSISTED_QUERY_MAX_BYTES;
  const caching = options.cache ? createResponseCaching(options.cache, { persistedQueryMaxBytes }) : undefined;

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
    exposeDetails: config.NODE_ENV === 'development',
    // A session in another zone than the rollups: the database may have been re-zoned; read its zone again.
    ...(reportZone ? { onReportZoneError: () => void reportZone.check().catch(() => undefined) } : {}),
  });
  const formatLimits = limitErrorCodes({ hideSuggestions: production });
  // Limit codes put back (and suggestions hidden in production), then masking: for queries and subscriptions.
  const formatGraphQLError = (formatted: GraphQLFormattedError, error: unknown) => formatError(formatLimits(formatted), error);
  const apollo = new ApolloServer<GraphQLContext>({
    schema,
    formatError: formatGraphQLError,
    validationRules: queryLimitRules(limits),
    parseOptions: { maxTokens: limits.maxTokens },
    documentStore: createDocumentStore((config.DOCUMENT_CACHE_MB ?? DEFAULT_DOCUMENT_CACHE_MB) * 2 ** 20),
    includeStacktraceInErrorResponses: false,
    // Shutdown is the gateway's own (graceful-shutdown.ts): readiness 503, a delay, then drain. Apollo's handler,
    // on by default outside NODE_ENV=test, would stop the server at once and signal the process again.
    stopOnTerminationSignals: false,
    // Decided by our configuration rather than by Apollo reading process.env itself.
    introspection: config.INTROSPECTION ?? !production,
    // Apollo's default, stated: a GET, or a POST a form could send, needs a header a form cannot set.
    csrfPrevention: true,
    ...(caching ? { persistedQueries: caching.persistedQueries } : {}),
    plugins: [
      fastifyApolloDrainPlugin(app),
      production
        ? ApolloServerPluginLandingPageDisabled()
        : ApolloServerPluginLandingPageLocalDefault({ embed: true, footer: false }),
      serviceUnavailableStatusPlugin(RETRY_AFTER_SECONDS),
      refusedDocumentStatusPlugin(),
      costLimitPlugin(schema, limits, seriesSpan),
      ...(caching ? [registrationPricePlugin<GraphQLContext>(persistedQueryMaxBytes)] : []),
      auditPlugin(audit),
      noSubscriptionsOverHttpPlugin(),
      ...(caching?.plugins ?? []),
      // Apollo would otherwise install these itself, each with work on every request: cache control with a hook
      // around every resolver (the response cache sets its policy itself), and federated tracing, which a schema
      // that is not a subgraph never uses but still starts for each request.
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginInlineTraceDisabled(),
    ],
  });
  await apollo.start();

  // After Apollo has drained (its drain plugin runs in onClose too, registered earlier), the trail is complete.
  app.addHook('onClose', async () => audit.close());
  registerRequestObservation(app, GRAPHQL_PATH);
  registerHealthRoute(app, database, config.HEALTH_TIMEOUT_MS);
  registerReadyRoute(app, { database, timeoutMs: config.HEALTH_TIMEOUT_MS, cacheStatus: options.cacheStatus, stopping: () => stopping, reportZone });
  registerMetricsRoute(app);
  // While shutting down, keep-alive connections are closed after their current answer, so that closing the
  // server waits for in-flight requests and not for idle sockets.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (stopping) void reply.header('connection', 'close');
    done(null, payload);
  });
  if (database.poolStats) {
    const unobserve = observePool(database.poolStats);
    app.addHook('onClose', async () => unobserve());
  }
  registerHttpLimits(app, GRAPHQL_PATH, limits);
  registerNestingLimit(app, GRAPHQL_PATH);
  registerProtocolErrors(app, GRAPHQL_PATH, limits);
  // Browsers on other origins may call the gateway only from the allow list; without one, none may. Before
  // the hooks that answer early (401, 429), so that their answers still reach the page that asked.
  await app.register(fastifyCors, {
    origin: config.CORS_ORIGINS ?? [],
    methods: ['GET', 'POST'],
    allowedHeaders: ['content-type', 'authorization', 'x-api-key', 'x-request-id', 'apollo-require-preflight', 'x-apollo-operation-name'],
    exposedHeaders: ['x-request-id', 'x-cache', 'x-query-cost', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'ratelimit-policy', 'retry-after', 'content-disposition'],
    maxAge: 600,
  });
  if (reportZone) {
    // Before authentication and the cache: a gateway in another zone than its database answers nothing, cached
    // answers and exports included, since its days are not the database's. The verdict is known on almost every
    // request and read without a promise; only an unknown one waits for a read.
    app.addHook('onRequest', (request, reply, done) => {
      const route = guardOf(guarded, request);
      if (!route) return done();
      const answer = (verdict: ZoneVerdict) => {
        if (verdict.state !== 'mismatched') return done();
        const refused = reply.header('cache-control', 'no-store').header('retry-after', String(RETRY_AFTER_SECONDS));
        route.refuse(refused, 503, ErrorCode.SERVICE_UNAVAILABLE, reportZoneUnavailable(verdict.reason).message);
      };
      const verdict = reportZone.current;
      if (verdict.state !== 'unknown') answer(verdict);
      else void reportZone.known().then(answer);
    });
  }
  app.addHook('onRequest', auth.onRequest);
  if (rateLimit) {
    // After authentication: a request turned away with 401 spends nobody's budget.
    app.addHook('onRequest', rateLimit.onRequest);
    app.addHook('onSend', rateLimit.onSend);
  }
  if (caching && caching.cache.ttlSeconds > 0) {
    // Cache hits sent by POST are answered before Apollo runs; everything else goes on to it.
    app.addHook('preHandler', createCacheHitShortcut(caching, GRAPHQL_PATH, auth.principalOf));
  }
  // After the authentication and rate-limit hooks, which apply to it; reads through the database handle's `db`.
  await app.register(exportRoutes, {
    schema,
    db: database.db,
    audit,
    principalOf: auth.principalOf,
    ...(rateLimit ? { chargeCost: rateLimit.chargeCost } : {}),
    reportTimezone: config.REPORT_TIMEZONE ?? 'UTC',
    ...(reportZone ? { onReportZoneError: () => void reportZone.check().catch(() => undefined) } : {}),
  });
  const beginShutdown = () => {
    stopping = true;
  };
  if (!options.changes) {
    await app.register(fastifyApollo(apollo), { path: GRAPHQL_PATH, context: contextFor });
    return { app, apollo, audit, beginShutdown };
  }
  // Subscriptions share the path: a GET that asks to upgrade goes to graphql-ws, any other GET to Apollo.
  const subscriptions = await registerSubscriptionServer(app, {
    schema,
    db: database.db,
    cursors,
    authenticate,
    limits,
    config: { ...defaultSubscriptionConfig, ...definedOnly(config) },
    changes: options.changes,
    logger: app.log.child({ component: 'subscriptions' }),
    production,
    formatError: formatGraphQLError,
    principalKey: rateKeyOf,
    ...(rateBudget ? { rateLimit: { budget: rateBudget } } : {}),
    corsOrigins: config.CORS_ORIGINS ?? [],
    seriesSpan,
    audit,
    ...(reportZone ? { refusal: () => reportZone.refusal } : {}),
  });
  const unobserveSubscriptions = observeSubscriptions(subscriptions.stats);
  app.addHook('onClose', async () => unobserveSubscriptions());
  await app.register(fastifyApollo(apollo), { path: GRAPHQL_PATH, context: contextFor, method: ['POST', 'OPTIONS'] });
  app.route({
    method: 'GET',
    url: GRAPHQL_PATH,
    handler: fastifyApolloHandler(apollo, { context: contextFor }),
    wsHandler: subscriptions.wsHandler,
  });
  return { app, apollo, audit, beginShutdown, subscriptions: { stats: subscriptions.stats, registry: subscriptions.registry } };
}
