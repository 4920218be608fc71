import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { GraphQLError } from 'graphql';
import { AuthenticationError, CREDENTIALS_REQUIRED, credentialsFrom, type Authenticate } from '../auth/authenticate.js';
import { TooManyFailedLookups } from '../auth/failed-key-lookups.js';
import { ANONYMOUS, type Principal } from '../auth/principal.js';
import { ErrorCode } from '../errors/error-codes.js';
import { guardOf, type GuardedRoute } from './guarded-route.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sent a request to a guarded route, once authenticated; null elsewhere (see FastifyInstance.principalOf). */
    principal: Principal | null;
  }
  interface FastifyInstance {
    /** The principal of a request; without authentication, ANONYMOUS (UNAUTHENTICATED where it is required). */
    principalOf(request: FastifyRequest): Principal;
  }
}

export interface AuthPluginOptions {
  authenticate: Authenticate;
  /** The routes whose requests are authenticated (GraphQL operations, exports), each refusing in its own error shape. */
  routes: readonly GuardedRoute[];
  /** AUTH_MODE=required: a request without a principal is UNAUTHENTICATED rather than ANONYMOUS. */
  required: boolean;
}

/**
 * Authenticates every request to a guarded route (GraphQL operations, exports) in `onRequest`, before the body
 * is read, before the cache-hit shortcut and before Apollo: a request turned away here gets 401 UNAUTHENTICATED
 * (429 RATE_LIMITED when its address has failed too many API-key lookups), in its route's error shape, and is
 * never answered from the cache. The principal is kept on the request for the context function and the export
 * routes.
 */
export const authPlugin = fp<AuthPluginOptions>(
  (app, { authenticate, routes, required }, done) => {
    app.decorateRequest('principal', null);
    app.decorate('principalOf', (request: FastifyRequest): Principal => {
      if (request.principal) return request.principal;
      if (!required) return ANONYMOUS;
      throw new GraphQLError(CREDENTIALS_REQUIRED, {
        extensions: { code: ErrorCode.UNAUTHENTICATED, http: { status: 401 } },
      });
    });

    app.addHook('onRequest', async (request, reply) => {
      // The Sandbox page itself is static HTML; its operations come back as POSTs.
      const route = guardOf(routes, request);
      if (!route) return;
      try {
        request.principal = await authenticate(credentialsFrom(request.headers), request.ip);
      } catch (error) {
        const noStore = reply.header('cache-control', 'no-store');
        if (error instanceof TooManyFailedLookups) {
          const wait = String(error.retryAfterSeconds);
          return route.refuse(noStore.header('retry-after', wait), 429, ErrorCode.RATE_LIMITED, error.message, {
            retryAfterSeconds: error.retryAfterSeconds,
          });
        }
        if (!(error instanceof AuthenticationError)) throw error;
        return route.refuse(noStore.header('www-authenticate', 'Bearer'), 401, error.code, error.message);
      }
    });
    done();
  },
  { name: 'marketpulse-auth' },
);
