import type { KeyValueCache, KeyValueCacheSetOptions } from '@apollo/utils.keyvaluecache';
import { Redis } from 'ioredis';
import { createThrottledWarn, type CacheLogger } from './throttled-warn.js';

// Apollo's own Redis cache (apollo-server-cache-redis) is deprecated, and the maintained route (Keyv through
// @apollo/utils.keyvadapter) wraps every value in a JSON envelope of its own and, with @keyv/redis, talks to
// Redis through node-redis rather than ioredis. Three commands are all the cache needs, so they are here.

export interface RedisCacheOptions {
  /** Longest wait for one command; past it the command fails and counts as a miss. */
  commandTimeoutMs: number;
  logger: CacheLogger;
}

const RECONNECT_BASE_MS = 50;
const RECONNECT_MAX_MS = 2_000;

/**
 * An ioredis client that never makes a request wait for Redis: no offline queue (a command while disconnected
 * fails at once), a short command timeout (a hung server costs at most that), no retries of a failed command,
 * and reconnection forever with capped backoff. Connection trouble is logged, throttled.
 */
export function createRedisClient(url: string, options: RedisCacheOptions): Redis {
  const warn = createThrottledWarn(options.logger);
  const client = new Redis(url, {
    enableOfflineQueue: false,
    commandTimeout: options.commandTimeoutMs,
    maxRetriesPerRequest: 0,
    connectTimeout: Math.max(options.commandTimeoutMs * 10, 1_000),
    retryStrategy: (attempt) => Math.min(RECONNECT_BASE_MS * 2 ** attempt, RECONNECT_MAX_MS),
    // A request is one GET; batching the GETs of concurrent requests into one write costs nothing and saves
    // a system call each.
    enableAutoPipelining: true,
  });
  let ready = false;
  client.on('ready', () => {
    ready = true;
    options.logger.info({}, 'Redis is up: answers are cached');
  });
  client.on('close', () => {
    if (!ready) return;
    ready = false;
    options.logger.warn({}, 'Redis connection lost: serving uncached answers until it is back');
  });
  // Without a listener ioredis prints every failed reconnection attempt to stderr.
  client.on('error', (error: Error) => warn(error, 'Redis is unavailable'));
  return client;
}

/** Apollo's KeyValueCache over ioredis, where a failure of any kind is a miss (get) or a no-op (set, delete). */
/** Closes a client of createRedisClient on purpose: without an outage warning, and without waiting on a dead server. */
export async function closeRedisClient(client: Redis): Promise<void> {
  client.removeAllListeners('close');
  // quit() waits for a reply that a dead server never sends; disconnect() does not wait.
  if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
  else client.disconnect();
}

export class RedisKeyValueCache implements KeyValueCache<string> {
  private readonly warn: ReturnType<typeof createThrottledWarn>;

  constructor(
    private readonly client: Redis,
    logger: CacheLogger,
  ) {
    this.warn = createThrottledWarn(logger);
  }

  async get(key: string): Promise<string | undefined> {
    try {
      return (await this.client.get(key)) ?? undefined;
    } catch (error) {
      this.warn(error, 'Redis GET failed; treated as a miss');
      return undefined;
    }
  }

  async set(key: string, value: string, options?: KeyValueCacheSetOptions): Promise<void> {
    try {
      const ttl = options?.ttl;
      if (ttl) await this.client.set(key, value, 'EX', Math.ceil(ttl));
      else await this.client.set(key, value);
    } catch (error) {
      this.warn(error, 'Redis SET failed; the answer is not cached');
    }
  }

  async delete(key: string): Promise<boolean> {
    try {
      return (await this.client.del(key)) > 0;
    } catch (error) {
      this.warn(error, 'Redis DEL failed');
      return false;
    }
  }
}
