import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ErrorCode } from '../errors/error-codes.js';
import {
  rateLimitedError,
  rateLimitedMessage,
  rateLimitHeaders,
  secondsUntil,
  type RateBudget,
  type RateLimitState,
} from '../limits/rate-limit.js';
import { guardOf, type GuardedRoute } from './guarded-route.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The principal's budget as this request last charged it; null until it is charged (unguarded routes never are). */
    rateLimit: RateLimitState | null;
    /** Charges the rest of the request's cost; throws ErrorCode.RATE_LIMITED (HTTP 429) past the budget. Free without budgets. */
    chargeCost(points: number): Promise<void>;
  }
}

export interface RateLimitPluginOptions {
  /** The budget to charge; without one, nothing is charged and no RateLimit headers are sent. */
  budget: RateBudget | undefined;
  /** The routes whose requests are charged (GraphQL operations, exports), each refusing in its own error shape. */
  routes: readonly GuardedRoute[];
  /** Whose budget a request spends. */
  keyOf: (request: FastifyRequest) => string;
}

/**
 * Wires a budget into the guarded routes (GraphQL operations, exports). Every request is charged 1 point when it
 * arrives (before its body is parsed), so a spent budget turns requests away cheaply, cache hits and invalid
 * documents included; a request that runs is charged the rest of its cost once the cost is known
 * (`request.chargeCost`: a query's cost, an export's rows). Every answer carries the RateLimit headers of its
 * principal's budget. Registered after authentication: a request turned away with 401 spends nobody's budget.
 */
export const rateLimitPlugin = fp<RateLimitPluginOptions>(
  (app, { budget, routes, keyOf }, done) => {
    app.decorateRequest('rateLimit', null);
    if (!budget) {
      app.decorateRequest('chargeCost', async () => {});
      return done();
    }
    const options = budget.options;
    app.decorateRequest('chargeCost', async function chargeCost(this: FastifyRequest, points: number): Promise<void> {
      if (points <= 0) return;
      const state = await budget.charge(keyOf(this), points);
      this.rateLimit = state;
      if (state.limited) throw rateLimitedError(state);
    });

    app.addHook('onRequest', async (request, reply) => {
      const route = guardOf(routes, request);
      if (!route) return;
      const state = await budget.charge(keyOf(request), 1);
      request.rateLimit = state;
      if (state.limited) {
        return route.refuse(
          reply.header('cache-control', 'no-store'),
          429,
          ErrorCode.RATE_LIMITED,
          rateLimitedMessage(state),
          {
            retryAfterSeconds: secondsUntil(state.res),
          },
        );
      }
    });

    app.addHook('onSend', async (request, reply, payload) => {
      const state = request.rateLimit;
      if (state) reply.headers(rateLimitHeaders(state, options));
      return payload;
    });
    done();
  },
  { name: 'marketpulse-rate-limit', dependencies: ['marketpulse-auth'] },
);
