import { RateLimiterMemory } from 'rate-limiter-flexible';

const WINDOW_SECONDS = 60;

/**
 * Failed authentications per client address, counted in this gateway's memory. Past `perMinute` failures in a
 * minute, the address's requests with credentials are turned away (429) without checking them, so a stream of
 * made-up keys or tokens costs neither database queries nor signature checks. Entries live a minute each.
 */
export class FailedAuthentications {
  private readonly limiter: RateLimiterMemory;

  constructor(private readonly perMinute: number) {
    this.limiter = new RateLimiterMemory({ points: perMinute, duration: WINDOW_SECONDS, keyPrefix: 'auth-failures' });
  }

  /** Seconds until `address` may try again; 0 when it may try now. */
  async blockedFor(address: string): Promise<number> {
    const state = await this.limiter.get(address);
    if (!state || state.consumedPoints < this.perMinute) return 0;
    return Math.max(1, Math.ceil(state.msBeforeNext / 1_000));
  }

  async record(address: string): Promise<void> {
    await this.limiter.penalty(address, 1);
  }
}
