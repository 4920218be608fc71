import type { FastifyReply, FastifyRequest } from 'fastify';
import Negotiator from 'negotiator';
import type { GuardedRoute } from './guarded-route.js';

// What the hooks in front of Apollo (authentication, rate limits, HTTP limits, the cache-hit shortcut) share:
// which requests to the GraphQL route carry an operation, which media type an answer takes, and how to answer
// with an error before Apollo sees the request.

/** Every request to the GraphQL route but the Sandbox page (a GET without an operation, static HTML). */
export function carriesOperation(request: FastifyRequest, graphqlPath: string): boolean {
  if (request.routeOptions.url !== graphqlPath) return false;
  return request.method !== 'GET' || /[?&](query|extensions)=/.test(request.url);
}

/** The GraphQL route as authentication and rate budgets guard it: requests carrying an operation, refused with a GraphQL error. */
export function graphqlRouteGuard(graphqlPath: string): GuardedRoute {
  return { guards: (request) => carriesOperation(request, graphqlPath), refuse: sendGraphQLError };
}

export const JSON_TYPE = 'application/json; charset=utf-8';
export const GRAPHQL_RESPONSE_TYPE = 'application/graphql-response+json; charset=utf-8';
// Offered only so that negotiation picks what Apollo would; an answer of this type is left to Apollo.
const CALLBACK_TYPE = 'application/json; callbackSpec=1.0; charset=utf-8';

const typeByAccept = new Map<string, string | null>();
const MAX_ACCEPT_VALUES = 64;

/**
 * The media type Apollo answers a single result with for this Accept header (its
 * chooseContentTypeForSingleResultResponse): JSON_TYPE, GRAPHQL_RESPONSE_TYPE, or null for anything else.
 */
export function responseMediaType(accept: string | undefined): string | null {
  if (!accept) return JSON_TYPE;
  let type = typeByAccept.get(accept);
  if (type === undefined) {
    const preferred = new Negotiator({ headers: { accept } }).mediaType([
      JSON_TYPE,
      GRAPHQL_RESPONSE_TYPE,
      CALLBACK_TYPE,
    ]);
    type = preferred === JSON_TYPE || preferred === GRAPHQL_RESPONSE_TYPE ? preferred : null;
    if (typeByAccept.size >= MAX_ACCEPT_VALUES) typeByAccept.clear();
    typeByAccept.set(accept, type);
  }
  return type;
}

/**
 * The status of an answer refusing a request's document (its syntax, validation, a limit, variables that do
 * not fit), per GraphQL over HTTP: 200 under application/json, where clients read the errors from the body,
 * and 400 under application/graphql-response+json, where the status says that nothing ran.
 */
export function refusedDocumentStatus(accept: string | undefined): 200 | 400 {
  return responseMediaType(accept) === JSON_TYPE ? 200 : 400;
}

/** Answers with `status` and a GraphQL response holding one error with `code`, as Apollo would shape it. */
export function sendGraphQLError(
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
  extensions: Record<string, unknown> = {},
): FastifyReply {
  const type = responseMediaType(reply.request.headers.accept) ?? JSON_TYPE;
  return reply
    .code(status)
    .type(type)
    .send(JSON.stringify({ errors: [{ message, extensions: { code, ...extensions } }] }));
}

/** Refuses a request's document before Apollo parses it, with the status GraphQL over HTTP asks for. */
export function sendRefusedDocument(
  reply: FastifyReply,
  code: string,
  message: string,
  extensions: Record<string, unknown> = {},
): FastifyReply {
  return sendGraphQLError(reply, refusedDocumentStatus(reply.request.headers.accept), code, message, extensions);
}
