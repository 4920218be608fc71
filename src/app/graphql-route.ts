import type { ApolloServer } from '@apollo/server';
import fastifyApollo, { fastifyApolloHandler } from '@as-integrations/fastify';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { GraphQLContext } from '../graphql/context.js';
import { observeSubscriptions } from '../subscriptions/subscription.metrics.js';
import {
  registerSubscriptionServer,
  type SubscriptionServer,
  type SubscriptionServerOptions,
} from '../subscriptions/ws-server.js';
import { GRAPHQL_PATH } from './server-config.js';

/**
 * The GraphQL route: Apollo on POST and GET; with `subscriptions` (when the gateway hears changes), the
 * WebSocket side on the same path, where a GET that asks to upgrade goes to graphql-ws and any other GET to
 * Apollo. Registered last, after every hook that applies to it.
 */
export async function registerGraphQLRoute(
  app: FastifyInstance,
  apollo: ApolloServer<GraphQLContext>,
  contextFor: (request: FastifyRequest) => Promise<GraphQLContext>,
  subscriptionOptions: SubscriptionServerOptions | undefined,
): Promise<SubscriptionServer | undefined> {
  if (!subscriptionOptions) {
    await app.register(fastifyApollo(apollo), { path: GRAPHQL_PATH, context: contextFor });
    return undefined;
  }
  const subscriptions = await registerSubscriptionServer(app, subscriptionOptions);
  const unobserveSubscriptions = observeSubscriptions(subscriptions.stats);
  app.addHook('onClose', async () => unobserveSubscriptions());
  await app.register(fastifyApollo(apollo), { path: GRAPHQL_PATH, context: contextFor, method: ['POST', 'OPTIONS'] });
  app.route({
    method: 'GET',
    url: GRAPHQL_PATH,
    handler: fastifyApolloHandler(apollo, { context: contextFor }),
    wsHandler: subscriptions.wsHandler,
  });
  return { stats: subscriptions.stats, registry: subscriptions.registry };
}
