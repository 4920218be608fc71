import { ErrorCode } from '../errors/error-codes.js';
import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, OperationTypeNode } from 'graphql';

/**
 * graphql-js can execute a subscription operation once, like a query, and Apollo Server would answer it over
 * HTTP with a single snapshot. A client that sent one expects a stream, so it is told where streams are served.
 */
export function noSubscriptionsOverHttpPlugin<Context extends object>(): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation }) {
          if (operation?.operation !== OperationTypeNode.SUBSCRIPTION) return;
          throw new GraphQLError(
            'Subscriptions are served over WebSocket (graphql-transport-ws) on this path; send queries over HTTP',
            {
              extensions: { code: ErrorCode.BAD_REQUEST, http: { status: 400 } },
            },
          );
        },
      };
    },
  };
}
