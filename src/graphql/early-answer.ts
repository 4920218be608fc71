import type { FastifyReply, FastifyRequest } from 'fastify';

// What the hooks in front of Apollo (authentication, rate limits, HTTP limits) share: which requests to the
// GraphQL route carry an operation, and how to answer one with an error before Apollo sees it.

/** Every request to the GraphQL route but the Sandbox page (a GET without an operation, static HTML). */
export function carriesOperation(request: FastifyRequest, graphqlPath: string): boolean {
  if (request.routeOptions.url !== graphqlPath) return false;
  return request.method !== 'GET' || /[?&](query|extensions)=/.test(request.url);
}

/** Answers with `status` and a GraphQL response holding one error with `code`, as Apollo would shape it. */
export function sendGraphQLError(
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
  extensions: Record<string, unknown> = {},
): FastifyReply {
  return reply
    .code(status)
    .type('application/json; charset=utf-8')
    .send(JSON.stringify({ errors: [{ message, extensions: { code, ...extensions } }] }));
}
