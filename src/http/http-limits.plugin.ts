import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ErrorCode } from '../errors/error-codes.js';
import { MAX_VARIABLES_DEPTH, nestedDeeperThan, tooDeeplyNested } from '../limits/nesting.js';
import { documentTooLarge, type QueryLimits } from '../limits/query-limits.js';
import { sendGraphQLError, sendRefusedDocument } from './early-answer.js';

// The request rules of the GraphQL route that HTTP enforces before anything parses a document: one operation
// per request, a document no longer than QUERY_MAX_BYTES, variables nested no deeper than MAX_VARIABLES_DEPTH.
// The body's own size is Fastify's bodyLimit (413, answered by protocol-errors.ts).

export interface HttpLimitsOptions {
  graphqlPath: string;
  limits: QueryLimits;
}

function queryOf(request: FastifyRequest): unknown {
  const source = request.method === 'GET' ? request.query : request.body;
  return typeof source === 'object' && source !== null ? (source as Record<string, unknown>).query : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `variables` or `extensions` of a GET request: JSON text in the query string (Apollo reports text that is not JSON). */
function fromQueryString(value: unknown): unknown {
  if (typeof value !== 'string') return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

/**
 * HTTP rules for the GraphQL path, in preValidation, before the cache-hit shortcut (preHandler) and Apollo: a
 * JSON array (batch) is refused with 400, and a document over QUERY_MAX_BYTES before anything parses it. A
 * body over the limit is refused by Fastify before any hook runs, with 413 (src/http/protocol-errors.ts).
 * A callback hook, as the other hooks of every request that never wait: an async one costs a promise and a
 * turn of the event loop's microtask queue each time.
 */
function registerHttpLimits(app: FastifyInstance, path: string, limits: QueryLimits): void {
  app.addHook('preValidation', (request, reply, done) => {
    if (request.routeOptions.url !== path) return done();
    if (Array.isArray(request.body)) {
      sendGraphQLError(
        reply,
        400,
        ErrorCode.BATCHING_NOT_SUPPORTED,
        'Batched requests are not supported; send one operation per request',
      );
      return;
    }
    const query = queryOf(request);
    const tooLarge = typeof query === 'string' ? documentTooLarge(query, limits) : undefined;
    if (tooLarge) {
      sendRefusedDocument(reply, ErrorCode.QUERY_TOO_LARGE, tooLarge.message, { maxBytes: limits.maxDocumentBytes });
      return;
    }
    done();
  });
}

/**
 * Refuses a request to the GraphQL route whose variables or extensions nest past MAX_VARIABLES_DEPTH, in
 * preValidation: after authentication and the rate budget's first point, before the cache-hit shortcut and
 * Apollo, which build keys from the variables. The request is well-formed GraphQL-over-HTTP, so it is answered
 * as GraphQL-over-HTTP asks of a request error: 200 under `application/json`, 400 under
 * `application/graphql-response+json`.
 */
function registerNestingLimit(app: FastifyInstance, graphqlPath: string): void {
  // A callback hook: it never waits, and an async one would cost a promise on every request.
  app.addHook('preValidation', (request, reply, done) => {
    if (request.routeOptions.url !== graphqlPath) return done();
    const fields = request.method === 'GET' ? request.query : request.body;
    if (!isRecord(fields)) return done();
    for (const what of ['variables', 'extensions'] as const) {
      const value = request.method === 'GET' ? fromQueryString(fields[what]) : fields[what];
      if (!nestedDeeperThan(value, MAX_VARIABLES_DEPTH)) continue;
      const error = tooDeeplyNested(what);
      const { code, ...details } = error.extensions;
      sendRefusedDocument(reply.header('cache-control', 'no-store'), String(code), error.message, details);
      return;
    }
    done();
  });
}

/** Both rules, in preValidation, in this order: a batch or an oversized document is refused before its variables are walked. */
export const httpLimitsPlugin = fp<HttpLimitsOptions>(
  (app, { graphqlPath, limits }, done) => {
    registerHttpLimits(app, graphqlPath, limits);
    registerNestingLimit(app, graphqlPath);
    done();
  },
  { name: 'marketpulse-http-limits' },
);
