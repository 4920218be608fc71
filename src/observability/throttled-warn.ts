import type { Logger } from './logger.js';

export type CacheLogger = Pick<Logger, 'info' | 'warn'>;

const INTERVAL_MS = 10_000;

/**
 * A warning that is written at most once per interval, with the number of the ones held back: an outage of
 * Redis fails every request's GET, and one line per request would bury everything else in the log.
 */
export function createThrottledWarn(logger: CacheLogger, intervalMs = INTERVAL_MS) {
  let lastAt = -Infinity;
  let suppressed = 0;
  return (error: unknown, message: string) => {
    const now = performance.now();
    if (now - lastAt < intervalMs) {
      suppressed += 1;
      return;
    }
    lastAt = now;
    logger.warn({ err: error, ...(suppressed > 0 ? { suppressed } : {}) }, message);
    suppressed = 0;
  };
}
