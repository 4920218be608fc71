import type { FastifyReply, FastifyRequest } from 'fastify';
import { GraphQLError } from 'graphql';
import { RATE_LIMITED } from '../limits/rate-limit.js';
import { guardOf, type GuardedRoute } from './guarded-route.js';
import { AuthenticationError, CREDENTIALS_REQUIRED, credentialsFrom, type Authenticate } from '../auth/authenticate.js';
import { TooManyFailedLookups } from '../auth/failed-key-lookups.js';
import { ANONYMOUS, type Principal } from '../auth/principal.js';

/**
 * Authenticates every request to a guarded route (GraphQL operations, exports) in `onRequest`, before the body
 * is read, before the cache-hit shortcut and before Apollo: a request turned away here gets 401 UNAUTHENTICATED
 * (429 RATE_LIMITED when its address has failed too many API-key lookups), in its route's error shape, and is
 * never answered from the cache. The principal is kept for the context function and the export routes.
 */
export function createAuthHook(authenticate: Authenticate, routes: readonly GuardedRoute[], required: boolean) {
  const principals = new WeakMap<FastifyRequest, Principal>();

  async function onRequest(request: FastifyRequest, reply: FastifyReply) {
    // The Sandbox page itself is static HTML; its operations come back as POSTs.
    const route = guardOf(routes, request);
    if (!route) return;
    try {
      const principal = await authenticate(credentialsFrom(request.headers), request.ip);
      principals.set(request, principal);
    } catch (error) {
      const noStore = reply.header('cache-control', 'no-store');
      if (error instanceof TooManyFailedLookups) {
        const wait = String(error.retryAfterSeconds);
        return route.refuse(noStore.header('retry-after', wait), 429, RATE_LIMITED, error.message, { retryAfterSeconds: error.retryAfterSeconds });
      }
      if (!(error instanceof AuthenticationError)) throw error;
      return route.refuse(noStore.header('www-authenticate', 'Bearer'), 401, error.code, error.message);
    }
  }

  /** The principal of a request; without authentication, ANONYMOUS. */
  function principalOf(request: FastifyRequest): Principal {
    const principal = principals.get(request);
    if (principal) return principal;
    if (!required) return ANONYMOUS;
    throw new GraphQLError(CREDENTIALS_REQUIRED, {
      extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
    });
  }

  return { onRequest, principalOf };
}
