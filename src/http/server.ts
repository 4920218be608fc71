import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import fastifyApollo, { fastifyApolloDrainPlugin } from '@as-integrations/fastify';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import type { DatabaseHandle } from '../db/create-database.js';
import { createContext, type GraphQLContext } from '../graphql/context.js';
import { createFormatError } from '../graphql/errors.js';
import { buildGatewaySchema } from '../graphql/schema.js';
import { CursorCodec } from '../modules/shared/cursor.js';
import { registerHealthRoute } from './health.route.js';

export type ServerConfig = Pick<Config, 'NODE_ENV' | 'CURSOR_SECRET' | 'HEALTH_TIMEOUT_MS'>;

export interface Gateway {
  app: FastifyInstance;
  apollo: ApolloServer<GraphQLContext>;
}

/** The HTTP surface: POST and GET /graphql (with Apollo Sandbox outside production) and GET /healthz. */
export async function createGateway(config: ServerConfig, database: DatabaseHandle, logger: FastifyBaseLogger): Promise<Gateway> {
  const production = config.NODE_ENV === 'production';
  const app = Fastify({
    loggerInstance: logger,
    // Clients may send their own request id; otherwise Fastify makes one.
    requestIdHeader: 'x-request-id',
  });
  const cursors = new CursorCodec(config.CURSOR_SECRET);

  const apollo = new ApolloServer<GraphQLContext>({
    schema: await buildGatewaySchema(),
    formatError: createFormatError({ logger: app.log, exposeDetails: config.NODE_ENV === 'development' }),
    includeStacktraceInErrorResponses: false,
    // Decided by our configuration rather than by Apollo reading process.env itself.
    introspection: !production,
    plugins: [
      fastifyApolloDrainPlugin(app),
      production
        ? ApolloServerPluginLandingPageDisabled()
        : ApolloServerPluginLandingPageLocalDefault({ embed: true, footer: false }),
    ],
  });
  await apollo.start();

  registerHealthRoute(app, database, config.HEALTH_TIMEOUT_MS);
  await app.register(fastifyApollo(apollo), {
    context: async () => createContext(database.db, cursors),
  });
  return { app, apollo };
}
