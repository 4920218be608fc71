import type { Config } from '../config.js';

interface WarnLogger {
  warn(message: string): void;
}

/**
 * Said once at start, loudly, when a production gateway answers everybody: AUTH_MODE=none is right for the
 * embedded demo and wrong anywhere customers' names and spending are worth protecting.
 */
export function warnIfUnprotected(config: Pick<Config, 'NODE_ENV' | 'AUTH_MODE'>, logger: WarnLogger): boolean {
  if (config.NODE_ENV !== 'production' || config.AUTH_MODE !== 'none') return false;
  logger.warn(
    'AUTH_MODE=none in production: ANYONE WHO CAN REACH THIS PORT READS EVERY CUSTOMER. Set AUTH_MODE=required (see README, Security).',
  );
  return true;
}
