import type { FastifyReply, FastifyRequest } from 'fastify';
import { GraphQLError } from 'graphql';
import { guardOf, type GuardedRoute } from '../http/guarded-route.js';
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

// A budget of query cost per principal and window, kept by rate-limiter-flexible: in Redis when there is one,
// so that every gateway on it draws from the same budget, with an in-process limiter standing in while Redis
// does not answer (each gateway then counts on its own, which limits less strictly rather than not at all).

export const RATE_LIMITED = 'RATE_LIMITED';

export interface RateLimitOptions {
  /** Cost points each principal may spend per window. */
  points: number;
  windowSeconds: number;
  /** Shared budgets; without it, each process counts its own. */
  redis?: Redis;
  keyPrefix: string;
}

export interface RateLimitState {
  res: RateLimiterRes;
  limited: boolean;
}

export class RateBudget {
  private readonly limiter: RateLimiterAbstract;

  constructor(readonly options: RateLimitOptions) {
    const base = { points: options.points, duration: options.windowSeconds, keyPrefix: `${options.keyPrefix}rl` };
    const local = new RateLimiterMemory(base);
    this.limiter = options.redis
      ? new RateLimiterRedis({
          ...base,
          storeClient: options.redis,
          // A dead Redis must not add its timeout to every request: go to the local limiter at once.
          rejectIfRedisNotReady: true,
          insuranceLimiter: local,
          // A principal over its budget is turned away from memory until the window ends, without asking Redis.
          inMemoryBlockOnConsumed: options.points + 1,
        })
      : local;
  }

  /** Takes `points` from `key`'s budget; `limited` when that went past it (the request must not run). */
  async charge(key: string, points: number): Promise<RateLimitState> {
    try {
      return { res: await this.limiter.consume(key, points), limited: false };
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) return { res: rejection, limited: true };
      // Neither Redis nor the local limiter could count: fail open, this request goes uncounted.
      return { res: new RateLimiterRes(this.options.points, this.options.windowSeconds * 1_000, 0), limited: false };
    }
  }
}

const secondsUntil = (res: RateLimiterRes) => Math.max(1, Math.ceil(res.msBeforeNext / 1_000));

/** The RateLimit header fields (IETF draft "RateLimit header fields for HTTP"), plus Retry-After when limited. */
function rateLimitHeaders(state: RateLimitState, options: RateLimitOptions): Record<string, string> {
  const headers: Record<string, string> = {
    'ratelimit-limit': String(options.points),
    'ratelimit-remaining': String(Math.max(0, state.res.remainingPoints)),
    'ratelimit-reset': String(secondsUntil(state.res)),
    'ratelimit-policy': `${options.points};w=${options.windowSeconds}`,
  };
  if (state.limited) headers['retry-after'] = String(secondsUntil(state.res));
  return headers;
}

function rateLimitedMessage(state: RateLimitState): string {
  return `Rate limit reached: this client's query budget is spent; retry in ${secondsUntil(state.res)} s`;
}

/**
 * The error refusing work past the budget: RATE_LIMITED with `retryAfterSeconds`. Over HTTP it also makes the
 * answer a 429 with Retry-After; the WebSocket side drops the `http` extension and keeps the rest.
 */
export function rateLimitedError(state: RateLimitState): GraphQLError {
  const retryAfter = secondsUntil(state.res);
  return new GraphQLError(rateLimitedMessage(state), {
    extensions: {
      code: RATE_LIMITED,
      retryAfterSeconds: retryAfter,
      http: { status: 429, headers: new Map([['retry-after', String(retryAfter)]]) },
    },
  });
}

/**
 * Wires a budget into the guarded routes (GraphQL operations, exports). Every request is charged 1 point when it
 * arrives (before its body is parsed), so a spent budget turns requests away cheaply, cache hits and invalid
 * documents included; a request that runs is charged the rest of its cost once the cost is known (`chargeCost`:
 * a query's cost, an export's rows). Every answer carries the RateLimit headers of its principal's budget.
 */
export function createRateLimitHooks(budget: RateBudget, routes: readonly GuardedRoute[], keyOf: (request: FastifyRequest) => string) {
  const states = new WeakMap<FastifyRequest, RateLimitState>();
  const options = budget.options;

  async function onRequest(request: FastifyRequest, reply: FastifyReply) {
    const route = guardOf(routes, request);
    if (!route) return;
    const state = await budget.charge(keyOf(request), 1);
    states.set(request, state);
    if (state.limited) {
      return route.refuse(reply.header('cache-control', 'no-store'), 429, RATE_LIMITED, rateLimitedMessage(state), {
        retryAfterSeconds: secondsUntil(state.res),
      });
    }
  }

  async function onSend(request: FastifyRequest, reply: FastifyReply, payload: unknown) {
    const state = states.get(request);
    if (state) reply.headers(rateLimitHeaders(state, options));
    return payload;
  }

  /** Charges a request the rest of its cost; throws RATE_LIMITED (HTTP 429) when that is past the budget. */
  async function chargeCost(request: FastifyRequest, points: number): Promise<void> {
    if (points <= 0) return;
    const state = await budget.charge(keyOf(request), points);
    states.set(request, state);
    if (state.limited) throw rateLimitedError(state);
  }

  return { onRequest, onSend, chargeCost };
}
