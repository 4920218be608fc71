import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import fastifyApollo, { fastifyApolloDrainPlugin } from '@as-integrations/fastify';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { createCacheHitShortcut } from '../cache/cache-hit-shortcut.js';
import { createResponseCaching, type GatewayCache } from '../cache/response-cache.js';
import type { Config } from '../config.js';
import type { DatabaseHandle } from '../db/create-database.js';
import { createContext, type GraphQLContext } from '../graphql/context.js';
import { createFormatError } from '../graphql/errors.js';
import { buildGatewaySchema } from '../graphql/schema.js';
import { serviceUnavailableStatusPlugin } from '../graphql/unavailable-status.plugin.js';
import { CursorCodec } from '../modules/shared/cursor.js';
import { registerHealthRoute } from './health.route.js';

export type ServerConfig = Pick<Config, 'NODE_ENV' | 'CURSOR_SECRET' | 'HEALTH_TIMEOUT_MS'>;

const GRAPHQL_PATH = '/graphql';

export interface GatewayOptions {
  /** Response cache and persisted-query store; without one, nothing is cached and responses carry no freshness. */
  cache?: GatewayCache;
}

export interface Gateway {
  app: FastifyInstance;
  apollo: ApolloServer<GraphQLContext>;
}

/** The HTTP surface: POST and GET /graphql (with Apollo Sandbox outside production) and GET /healthz. */
export async function createGateway(
  config: ServerConfig,
  database: DatabaseHandle,
  logger: FastifyBaseLogger,
  options: GatewayOptions = {},
): Promise<Gateway> {
  const production = config.NODE_ENV === 'production';
  const app = Fastify({
    loggerInstance: logger,
    // Clients may send their own request id; otherwise Fastify makes one.
    requestIdHeader: 'x-request-id',
  });
  const cursors = new CursorCodec(config.CURSOR_SECRET);
  // One context per request, built from it (the coming auth work reads the caller here); the cache-hit
  // shortcut builds it too, to know the caller's cache scope.
  const contextFor = async (_request: FastifyRequest) => createContext(database.db, cursors);
  const caching = options.cache ? createResponseCaching(options.cache) : undefined;

  const apollo = new ApolloServer<GraphQLContext>({
    schema: await buildGatewaySchema(),
    formatError: createFormatError({ logger: app.log, exposeDetails: config.NODE_ENV === 'development' }),
    includeStacktraceInErrorResponses: false,
    // Decided by our configuration rather than by Apollo reading process.env itself.
    introspection: !production,
    ...(caching ? { persistedQueries: caching.persistedQueries } : {}),
    plugins: [
      fastifyApolloDrainPlugin(app),
      production
        ? ApolloServerPluginLandingPageDisabled()
        : ApolloServerPluginLandingPageLocalDefault({ embed: true, footer: false }),
      serviceUnavailableStatusPlugin(),
      ...(caching?.plugins ?? []),
      // Apollo would otherwise install cache control itself, and its per-field hook costs every request.
      ...(caching && caching.cache.ttlSeconds > 0 ? [] : [ApolloServerPluginCacheControlDisabled()]),
    ],
  });
  await apollo.start();

  registerHealthRoute(app, database, config.HEALTH_TIMEOUT_MS);
  if (caching && caching.cache.ttlSeconds > 0) {
    // Cache hits sent by POST are answered before Apollo runs; everything else goes on to it.
    app.addHook('preHandler', createCacheHitShortcut(caching, GRAPHQL_PATH, contextFor));
  }
  await app.register(fastifyApollo(apollo), { path: GRAPHQL_PATH, context: contextFor });
  return { app, apollo };
}
