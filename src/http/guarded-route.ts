import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * A kind of request that authentication and rate budgets apply to (GraphQL operations, exports), and how its
 * route answers a request those hooks turn away: each route keeps its own error shape, so a GraphQL client gets
 * a GraphQL error and an export client the export's JSON error.
 */
export interface GuardedRoute {
  guards(request: FastifyRequest): boolean;
  refuse(
    reply: FastifyReply,
    status: number,
    code: string,
    message: string,
    extensions?: Record<string, unknown>,
  ): FastifyReply;
}

/** The guarded route a request belongs to; undefined for the routes no hook guards (probes, metrics, Sandbox). */
export function guardOf(routes: readonly GuardedRoute[], request: FastifyRequest): GuardedRoute | undefined {
  return routes.find((route) => route.guards(request));
}
