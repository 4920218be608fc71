import { RateLimiterMemory } from 'rate-limiter-flexible';

const WINDOW_SECONDS = 60;

/**
 * API-key lookups that found no live key, per client address, counted in this gateway's memory. Past
 * `perMinute` of them in a minute, the address's keys are no longer looked up (except keys that were accepted
 * recently), so a stream of made-up keys costs no database queries. Entries live a minute each.
 */
export class FailedKeyLookups {
  private readonly limiter: RateLimiterMemory;

  constructor(private readonly perMinute: number) {
    this.limiter = new RateLimiterMemory({
      points: perMinute,
      duration: WINDOW_SECONDS,
      keyPrefix: 'failed-key-lookups',
    });
  }

  /** Seconds until `address` may have keys looked up again; 0 when it may now. */
  async blockedFor(address: string): Promise<number> {
    const state = await this.limiter.get(address);
    if (!state || state.consumedPoints < this.perMinute) return 0;
    return Math.max(1, Math.ceil(state.msBeforeNext / 1_000));
  }

  async record(address: string): Promise<void> {
    await this.limiter.penalty(address, 1);
  }
}

/** An API key was not looked up because its address has failed too many lookups; answered 429. */
export class TooManyFailedLookups extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super(`Too many unknown API keys from this address; retry in ${retryAfterSeconds} s`);
  }
}
