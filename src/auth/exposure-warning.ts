import { DEFAULT_CURSOR_SECRET, type Config } from '../config/config.js';
import type { Logger } from '../observability/logger.js';

type WarnLogger = Pick<Logger, 'warn'>;

/**
 * Said once at start, loudly, when a production gateway answers everybody: AUTH_MODE=none is right for the
 * embedded demo and wrong anywhere customers' names and spending are worth protecting.
 */
export function warnIfUnprotected(config: Pick<Config, 'server' | 'auth'>, logger: WarnLogger): boolean {
  if (config.server.nodeEnv !== 'production' || config.auth.mode !== 'none') return false;
  logger.warn(
    'AUTH_MODE=none in production: ANYONE WHO CAN REACH THIS PORT READS EVERY CUSTOMER. Set AUTH_MODE=required (see README, Security).',
  );
  return true;
}

/** The database password docker-compose.yml sets: fine for the demo stack, known to everybody who read the file. */
const COMPOSE_DATABASE_PASSWORD = 'marketpulse';

function passwordOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return decodeURIComponent(new URL(url).password) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Said once at start in production, for each secret still at a value published in this repository: with the
 * built-in CURSOR_SECRET anybody can sign cursors for this gateway, and with the compose file's database
 * password anybody who reaches PostgreSQL can log in. Returns the variables named.
 */
export function warnAboutDefaultSecrets(
  config: Pick<Config, 'server' | 'auth' | 'database'>,
  logger: WarnLogger,
): string[] {
  if (config.server.nodeEnv !== 'production') return [];
  const named: string[] = [];
  if (config.auth.cursorSecret === DEFAULT_CURSOR_SECRET) {
    named.push('CURSOR_SECRET');
    logger.warn(
      'CURSOR_SECRET is the built-in default, which anybody can read: set a random secret of 16+ characters, the same on every instance.',
    );
  }
  if (passwordOf(config.database.postgres?.url) === COMPOSE_DATABASE_PASSWORD) {
    named.push('DATABASE_URL');
    logger.warn(
      'DATABASE_URL uses the password docker-compose.yml ships with, which anybody can read: give PostgreSQL a password of its own.',
    );
  }
  return named;
}
