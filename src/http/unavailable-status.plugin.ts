import type { ApolloServerPlugin } from '@apollo/server';
import { RETRYABLE_CODES } from '../graphql/errors.js';

/**
 * A response that failed because PostgreSQL did not answer, or cancelled a statement at its timeout, goes out
 * as HTTP 503 with Retry-After, so load balancers and clients back off. The error formatter has already given
 * such errors SERVICE_UNAVAILABLE or QUERY_TIMEOUT.
 * Doing it here, once per response, spares every field a middleware wrapper.
 */
export function serviceUnavailableStatusPlugin<Context extends object>(
  retryAfterSeconds = 5,
): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          const errors = response.body.singleResult.errors ?? [];
          if (errors.some((error) => RETRYABLE_CODES.has(String(error.extensions?.code)))) {
            response.http.status = 503;
            response.http.headers.set('retry-after', String(retryAfterSeconds));
          }
        },
      };
    },
  };
}
