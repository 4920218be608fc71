import type { FastifyInstance } from 'fastify';
import { GraphQLError } from 'graphql';
import { sendRefusedDocument } from '../http/early-answer.js';
import { ErrorCode } from '../graphql/errors.js';

// Variables (and extensions) arrive as JSON, which a parser reads to any depth without trouble; much of what
// runs next (JSON.stringify for a cache key, a scalar's error message, logging) is recursive and throws
// RangeError a few thousand levels down. No argument of the schema nests more than a few levels, so anything
// deeper than this is refused before anything else sees it.

/** How deeply `variables` (and `extensions`) of a request may nest: the map itself is level 1. */
export const MAX_VARIABLES_DEPTH = 32;

/**
 * Whether `value` nests objects and arrays more than `max` levels deep (a scalar is 0 levels, `{}` and `[]`
 * are 1). A loop over an explicit stack, so that no input makes the check itself overflow; it stops at the
 * first container past `max`, and otherwise visits each value once.
 */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth + 1 > max) return true;
    for (const inner of Array.isArray(current) ? current : Object.values(current)) {
      if (inner !== null && typeof inner === 'object') stack.push({ value: inner, depth: depth + 1 });
    }
  }
  return false;
}

/** BAD_USER_INPUT for variables or extensions nested past MAX_VARIABLES_DEPTH, naming which. */
export function tooDeeplyNested(what: 'variables' | 'extensions'): GraphQLError {
  return new GraphQLError(`The request's ${what} nest more than ${MAX_VARIABLES_DEPTH} levels deep`, {
    extensions: { code: ErrorCode.BAD_USER_INPUT, maxDepth: MAX_VARIABLES_DEPTH },
  });
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
 * Refuses a request to the GraphQL route whose variables or extensions nest past MAX_VARIABLES_DEPTH, in
 * preValidation: after authentication and the rate budget's first point, before the cache-hit shortcut and
 * Apollo, which build keys from the variables. The request is well-formed GraphQL-over-HTTP, so it is answered
 * as GraphQL-over-HTTP asks of a request error: 200 under `application/json`, 400 under
 * `application/graphql-response+json`.
 */
export function registerNestingLimit(app: FastifyInstance, graphqlPath: string): void {
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
