import type { FastifyReply, FastifyRequest } from 'fastify';
import { GraphQLError } from 'graphql';
import { carriesOperation, sendGraphQLError } from '../graphql/early-answer.js';
import { RATE_LIMITED } from '../graphql/limits/rate-limit.js';
import { AuthenticationError, CREDENTIALS_REQUIRED, credentialsFrom, type Authenticate } from './authenticate.js';
import type { FailedAuthentications } from './failed-authentications.js';
import { ANONYMOUS, type Principal } from './principal.js';

/**
 * Authenticates every request to the GraphQL route in `onRequest`, before the body is read, before the
 * cache-hit shortcut and before Apollo: a request turned away here gets 401 UNAUTHENTICATED and is never
 * answered from the cache. The principal is kept for the context function. With `failures`, an address that
 * keeps sending credentials that fail is turned away with 429 before they are checked.
 */
export function createAuthHook(authenticate: Authenticate, graphqlPath: string, required: boolean, failures?: FailedAuthentications) {
  const principals = new WeakMap<FastifyRequest, Principal>();

  async function onRequest(request: FastifyRequest, reply: FastifyReply) {
    // The Sandbox page itself is static HTML; its operations come back as POSTs.
    if (!carriesOperation(request, graphqlPath)) return;
    const credentials = credentialsFrom(request.headers);
    // Only requests that present credentials cost a check (a database query for an API key); one without any
    // is refused for free, and is not counted.
    const presented = failures !== undefined && (credentials.apiKey !== undefined || credentials.authorization !== undefined);
    if (presented) {
      const wait = await failures.blockedFor(request.ip);
      if (wait > 0) {
        const message = `Too many failed authentications from this address; retry in ${wait} s`;
        return sendGraphQLError(reply.header('retry-after', String(wait)).header('cache-control', 'no-store'), 429, RATE_LIMITED, message, {
          retryAfterSeconds: wait,
        });
      }
    }
    try {
      const principal = await authenticate(credentials);
      principals.set(request, principal);
    } catch (error) {
      if (!(error instanceof AuthenticationError)) throw error;
      if (presented) await failures.record(request.ip);
      return sendGraphQLError(reply.header('www-authenticate', 'Bearer').header('cache-control', 'no-store'), 401, error.code, error.message);
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
