import { ErrorCode } from '../errors/error-codes.js';
import { GraphQLError } from 'graphql';
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

// A budget of query cost per principal and window, kept by rate-limiter-flexible: in Redis when there is one,
// so that every gateway on it draws from the same budget, with an in-process limiter standing in while Redis
// does not answer (each gateway then counts on its own, which limits less strictly rather than not at all).

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

export const secondsUntil = (res: RateLimiterRes) => Math.max(1, Math.ceil(res.msBeforeNext / 1_000));

/** The RateLimit header fields (IETF draft "RateLimit header fields for HTTP"), plus Retry-After when limited. */
export function rateLimitHeaders(state: RateLimitState, options: RateLimitOptions): Record<string, string> {
  const headers: Record<string, string> = {
    'ratelimit-limit': String(options.points),
    'ratelimit-remaining': String(Math.max(0, state.res.remainingPoints)),
    'ratelimit-reset': String(secondsUntil(state.res)),
    'ratelimit-policy': `${options.points};w=${options.windowSeconds}`,
  };
  if (state.limited) headers['retry-after'] = String(secondsUntil(state.res));
  return headers;
}

export function rateLimitedMessage(state: RateLimitState): string {
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
      code: ErrorCode.RATE_LIMITED,
      retryAfterSeconds: retryAfter,
      http: { status: 429, headers: new Map([['retry-after', String(retryAfter)]]) },
    },
  });
}
