import { ErrorCode } from '../errors/error-codes.js';
import { GraphQLError } from 'graphql';
import type { PubSub } from 'type-graphql';

function notServedHere(): never {
  throw new GraphQLError('Subscriptions are served over WebSocket (graphql-transport-ws) on /graphql', {
    extensions: { code: ErrorCode.BAD_REQUEST },
  });
}

/**
 * The `subscribe` of every subscription field. graphql-js would run a subscription's selection once per event
 * and subscriber; the gateway instead computes each distinct live query once per change and fans the result
 * out (src/subscriptions/live-query-registry.ts), so graphql-ws never calls this. Anything else that tries to
 * subscribe through the schema is told where subscriptions are served.
 */
export const servedByLiveQueries = notServedHere;

/**
 * type-graphql wants a PubSub as soon as the schema has a subscription, even when every field brings its own
 * `subscribe`. Nothing publishes: changes come from PostgreSQL's change feed.
 */
export const noPubSub: PubSub = {
  publish: notServedHere,
  subscribe: notServedHere,
};
