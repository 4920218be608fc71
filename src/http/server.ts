import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import fastifyApollo, { fastifyApolloDrainPlugin } from '@as-integrations/fastify';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { createAuthHook } from '../auth/auth-hook.js';
import { createAuthenticator, type AuthConfig } from '../auth/authenticate.js';
import { createCacheHitShortcut } from '../cache/cache-hit-shortcut.js';
import { createResponseCaching, type GatewayCache } from '../cache/response-cache.js';
import type { Config } from '../config.js';
import type { DatabaseHandle } from '../db/create-database.js';
import { createContext, type GraphQLContext } from '../graphql/context.js';
import { createFormatError } from '../graphql/errors.js';
import { buildGatewaySchema } from '../graphql/schema.js';
import { serviceUnavailableStatusPlugin } from '../graphql/unavailable-status.plugin.js';
import { costLimitPlugin, limitErrorCodes, queryLimitRules, registerHttpLimits, type QueryLimits } from '../graphql/limits/query-limits.js';
import { queryLimitsFrom, type QueryLimitsConfig } from '../graphql/limits/limits-config.js';
import { CursorCodec } from '../modules/shared/cursor.js';
import { observePool } from '../observability/metrics.js';
import { requestIdFrom } from '../observability/request-context.js';
import { registerRequestObservation } from '../observability/request-log.js';
import { registerHealthRoute } from './health.route.js';
import { registerMetricsRoute } from './metrics.route.js';
import { registerReadyRoute, type CacheStatus } from './ready.route.js';

export type ServerConfig = Pick<Config, 'NODE_ENV' | 'CURSOR_SECRET' | 'HEALTH_TIMEOUT_MS'> &
  // Without AUTH_MODE the gateway authenticates nobody (AUTH_MODE=none).
  Partial<AuthConfig> &
  // Unset limits take their defaults (src/graphql/limits/query-limits.ts).
  Partial<QueryLimitsConfig>;

const GRAPHQL_PATH = '/graphql';

export interface GatewayOptions {
  /** Response cache and persisted-query store; without one, nothing is cached and responses carry no freshness. */
  cache?: GatewayCache;
  /** What /readyz reports about the cache store (Redis up or down, or the in-process LRU). */
  cacheStatus?: () => CacheStatus;
}

export interface Gateway {
  app: FastifyInstance;
  apollo: ApolloServer<GraphQLContext>;
  /** Starts shutting down: /readyz answers 503 from now on, while requests are still served. */
  beginShutdown(): void;
}

/** The HTTP surface: POST and GET /graphql (with Apollo Sandbox outside production), /healthz, /readyz and /metrics. */
export async function createGateway(
  config: ServerConfig,
  database: DatabaseHandle,
  logger: FastifyBaseLogger,
  options: GatewayOptions = {},
): Promise<Gateway> {
  const production = config.NODE_ENV === 'production';
  const limits: QueryLimits = queryLimitsFrom(config);
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: limits.maxBodyBytes,
    // Clients may send their own request id (x-request-id); otherwise one is made (request-context.ts).
    requestIdHeader: false,
    genReqId: (request) => requestIdFrom(request.headers['x-request-id']),
    // One line per request, written by request-log.ts with what Fastify's two lines lack.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
  });
  let stopping = false;
  const cursors = new CursorCodec(config.CURSOR_SECRET);
  const auth = createAuthHook(createAuthenticator(config, database.db), GRAPHQL_PATH, config.AUTH_MODE === 'required');
  // One context per request, with the caller authenticated in onRequest; the cache-hit shortcut builds it
  // too, to know the caller's cache scope.
  const contextFor = async (request: FastifyRequest) => createContext(database.db, cursors, auth.principalOf(request));
  const caching = options.cache ? createResponseCaching(options.cache) : undefined;

  const schema = await buildGatewaySchema();
  const formatError = createFormatError({ logger: app.log, exposeDetails: config.NODE_ENV === 'development' });
  const formatLimits = limitErrorCodes({ hideSuggestions: production });
  const apollo = new ApolloServer<GraphQLContext>({
    schema,
    formatError: (formatted, error) => formatError(formatLimits(formatted), error),
    validationRules: queryLimitRules(limits),
    parseOptions: { maxTokens: limits.maxTokens },
    includeStacktraceInErrorResponses: false,
    // Decided by our configuration rather than by Apollo reading process.env itself.
    introspection: config.INTROSPECTION ?? !production,
    ...(caching ? { persistedQueries: caching.persistedQueries } : {}),
    plugins: [
      fastifyApolloDrainPlugin(app),
      production
        ? ApolloServerPluginLandingPageDisabled()
        : ApolloServerPluginLandingPageLocalDefault({ embed: true, footer: false }),
      serviceUnavailableStatusPlugin(),
      costLimitPlugin(schema, limits),
      ...(caching?.plugins ?? []),
      // Apollo would otherwise install cache control itself, and its per-field hook costs every request.
      ...(caching && caching.cache.ttlSeconds > 0 ? [] : [ApolloServerPluginCacheControlDisabled()]),
    ],
  });
  await apollo.start();

  registerRequestObservation(app, GRAPHQL_PATH);
  registerHealthRoute(app, database, config.HEALTH_TIMEOUT_MS);
  registerReadyRoute(app, { database, timeoutMs: config.HEALTH_TIMEOUT_MS, cacheStatus: options.cacheStatus, stopping: () => stopping });
  registerMetricsRoute(app);
  // While shutting down, keep-alive connections are closed after their current answer, so that closing the
  // server waits for in-flight requests and not for idle sockets.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (stopping) void reply.header('connection', 'close');
    return payload;
  });
  if (database.poolStats) {
    const unobserve = observePool(database.poolStats);
    app.addHook('onClose', async () => unobserve());
  }
  registerHttpLimits(app, GRAPHQL_PATH, limits);
  app.addHook('onRequest', auth.onRequest);
  if (caching && caching.cache.ttlSeconds > 0) {
    // Cache hits sent by POST are answered before Apollo runs; everything else goes on to it.
    app.addHook('preHandler', createCacheHitShortcut(caching, GRAPHQL_PATH, contextFor));
  }
  await app.register(fastifyApollo(apollo), { path: GRAPHQL_PATH, context: contextFor });
  return {
    app,
    apollo,
    beginShutdown: () => {
      stopping = true;
    },
  };
}
