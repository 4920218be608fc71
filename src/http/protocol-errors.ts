import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { sendGraphQLError } from './early-answer.js';
import { ErrorCode } from '../errors/error-codes.js';
import type { QueryLimits } from '../limits/query-limits.js';

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The `extensions` of a request: the POST body's, or the GET query string's (JSON text). */
function extensionsOf(request: FastifyRequest): unknown {
  if (isRecord(request.body)) return request.body.extensions;
  const fromQuery = isRecord(request.query) ? request.query.extensions : undefined;
  if (typeof fromQuery !== 'string') return undefined;
  try {
    return JSON.parse(fromQuery) as unknown;
  } catch {
    // Apollo answers that one itself.
    return undefined;
  }
}

/**
 * Requests to the GraphQL route that Fastify refuses before any hook of ours runs (a body that is not JSON,
 * an empty one, a content type it cannot read, one too large) are answered as GraphQL errors with a code,
 * like every other answer of that route: BAD_REQUEST with Fastify's status, PAYLOAD_TOO_LARGE with 413. A
 * method the route does not serve is 405 with Allow, and a persisted-query hash that cannot be one 400.
 * Anything else unexpected is logged and masked.
 */
function registerProtocolErrors(app: FastifyInstance, graphqlPath: string, limits: QueryLimits): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (request.routeOptions.url !== graphqlPath) throw error;
    const status = error.statusCode ?? 500;
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendGraphQLError(
        reply,
        413,
        ErrorCode.PAYLOAD_TOO_LARGE,
        `Request body is larger than ${limits.maxBodyBytes} bytes`,
      );
    }
    if (status >= 400 && status < 500) return sendGraphQLError(reply, status, ErrorCode.BAD_REQUEST, error.message);
    request.log.error({ err: error }, 'unexpected error while handling a request');
    return sendGraphQLError(reply, 500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error');
  });
  // A persisted-query hash is looked up in the store as sent: one that is not a SHA-256 is refused before it
  // becomes a (possibly huge) Redis key.
  // A callback hook: it never waits, and an async one would cost a promise on every request.
  app.addHook('preValidation', (request, reply, done) => {
    if (request.routeOptions.url !== graphqlPath) return done();
    const extensions = extensionsOf(request);
    const persisted = isRecord(extensions) ? extensions.persistedQuery : undefined;
    if (!isRecord(persisted) || persisted.sha256Hash === undefined) return done();
    if (typeof persisted.sha256Hash !== 'string' || !SHA256_HEX.test(persisted.sha256Hash)) {
      sendGraphQLError(
        reply,
        400,
        ErrorCode.BAD_REQUEST,
        'extensions.persistedQuery.sha256Hash must be the SHA-256 of the query, 64 hex digits',
      );
      return;
    }
    done();
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?', 1)[0];
    if (path !== graphqlPath) {
      return reply
        .code(404)
        .send({ message: `Route ${request.method}:${request.url} not found`, error: 'Not Found', statusCode: 404 });
    }
    return sendGraphQLError(
      reply.header('allow', 'GET, POST'),
      405,
      ErrorCode.BAD_REQUEST,
      `${request.method} is not supported here: send GraphQL requests with GET or POST`,
    );
  });
}

/** The error and not-found handlers of the whole server, so registered on the root (fastify-plugin). */
export const protocolErrorsPlugin = fp<{ graphqlPath: string; limits: QueryLimits }>(
  (app, { graphqlPath, limits }, done) => {
    registerProtocolErrors(app, graphqlPath, limits);
    done();
  },
  { name: 'marketpulse-protocol-errors' },
);
