import type { KeyValueCache, KeyValueCacheSetOptions } from '@apollo/utils.keyvaluecache';
import { Redis, type RedisOptions } from 'ioredis';
import type { RedisConnection } from '../config/config.js';
import { createThrottledWarn, type CacheLogger } from '../observability/throttled-warn.js';

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
const backoff = (attempt: number) => Math.min(RECONNECT_BASE_MS * 2 ** attempt, RECONNECT_MAX_MS);

/**
 * The ioredis options for a Redis behind Sentinels. ioredis asks the Sentinels for the master on every
 * (re)connection and checks the node it reaches is one; what is set here keeps that from ever holding up
 * a request, and from holding on to a master that is no longer one:
 * - a Sentinel that accepts the connection and never answers must not stall the lookup: each of its answers
 *   is awaited at most `connectTimeout`, then the next Sentinel is asked;
 * - when no Sentinel answers, ioredis retries the round with sentinelRetryStrategy, or gives up for good on
 *   a null; it must retry for ever, with the same capped backoff as reconnections;
 * - a master that hangs (rather than dying) keeps its connection open, and ioredis would keep sending it
 *   commands that time out, failover or not. The failover detector subscribes to +switch-master on the
 *   Sentinels and drops the connection when they promote another master, so that the next one goes to it.
 */
function sentinelOptions(
  connection: Extract<RedisConnection, { kind: 'sentinel' }>,
  connectTimeout: number,
): RedisOptions {
  return {
    sentinels: connection.sentinels,
    name: connection.masterName,
    ...(connection.username === undefined ? {} : { username: connection.username }),
    ...(connection.password === undefined ? {} : { password: connection.password }),
    ...(connection.sentinelUsername === undefined ? {} : { sentinelUsername: connection.sentinelUsername }),
    ...(connection.sentinelPassword === undefined ? {} : { sentinelPassword: connection.sentinelPassword }),
    db: connection.db,
    // `tls` alone covers only a standalone connection: in Sentinel mode ioredis uses it for the data nodes
    // with enableTLSForSentinelMode, and `sentinelTLS` for the Sentinels.
    ...(connection.tls ? { tls: {}, enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
    sentinelCommandTimeout: connectTimeout,
    sentinelRetryStrategy: backoff,
    // The detector's connections to the Sentinels keep ioredis's default of one reconnection attempt a minute:
    // they have no error listener to give, so ioredis prints every failed attempt to stderr. The detector is
    // made afresh at every reconnection of the client anyway.
    failoverDetector: true,
    // How long a connection the detector drops may take to close before it is destroyed (a hung master never
    // acknowledges the close).
    disconnectTimeout: connectTimeout,
  };
}

/**
 * An ioredis client that never makes a request wait for Redis: no offline queue (a command while disconnected
 * fails at once, which also covers the time without a master during a Sentinel failover), a short command
 * timeout (a hung server costs at most that), no retries of a failed command, and reconnection forever with
 * capped backoff. Connection trouble is logged, throttled. A string is a `redis://` or `rediss://` URL.
 */
export function createRedisClient(connection: RedisConnection | string, options: RedisCacheOptions): Redis {
  const warn = createThrottledWarn(options.logger);
  const target: RedisConnection = typeof connection === 'string' ? { kind: 'url', url: connection } : connection;
  const connectTimeout = Math.max(options.commandTimeoutMs * 10, 1_000);
  const common: RedisOptions = {
    enableOfflineQueue: false,
    commandTimeout: options.commandTimeoutMs,
    maxRetriesPerRequest: 0,
    connectTimeout,
    retryStrategy: backoff,
    // A request is one GET; batching the GETs of concurrent requests into one write costs nothing and saves
    // a system call each.
    enableAutoPipelining: true,
  };
  const client =
    target.kind === 'url'
      ? // The configuration refuses a username, password or db given both in the URL and beside it.
        new Redis(target.url, {
          ...common,
          ...(target.username === undefined ? {} : { username: target.username }),
          ...(target.password === undefined ? {} : { password: target.password }),
          ...(target.db === undefined ? {} : { db: target.db }),
        })
      : new Redis({ ...common, ...sentinelOptions(target, connectTimeout) });
  let ready = false;
  let restarts = 0;
  client.on('ready', () => {
    ready = true;
    restarts = 0;
    options.logger.info({}, 'Redis is up: answers are cached');
  });
  client.on('close', () => {
    if (!ready) return;
    ready = false;
    options.logger.warn({}, 'Redis connection lost: serving uncached answers until it is back');
  });
  // Without a listener ioredis prints every failed reconnection attempt to stderr.
  client.on('error', (error: Error) => warn(error, 'Redis is unavailable'));
  // ioredis gives a client up for good ('end') when a connection attempt is aborted under it, which happens
  // when the failover detector of a connection already lost announces the failover while the next attempt is
  // asking a Sentinel for the master: the likeliest moment, since the master died. Only a client closed on
  // purpose may stay ended.
  client.on('end', () => {
    if (closedOnPurpose.has(client)) return;
    options.logger.warn({}, 'the Redis client stopped reconnecting: connecting again');
    setTimeout(() => {
      if (!closedOnPurpose.has(client) && client.status === 'end') client.connect().catch(() => undefined);
    }, backoff(++restarts)).unref();
  });
  return client;
}

/** Clients closed through closeRedisClient: the only ones allowed to stay disconnected. */
const closedOnPurpose = new WeakSet<Redis>();

/**
 * Closes a client of createRedisClient on purpose: without an outage warning, and without waiting on a dead
 * server. QUIT leaves the connections of a Sentinel failover detector open; disconnect() closes those too.
 */
export async function closeRedisClient(client: Redis): Promise<void> {
  closedOnPurpose.add(client);
  client.removeAllListeners('close');
  // quit() waits for a reply that a dead server never sends; disconnect() does not wait.
  if (client.status === 'ready') await client.quit().catch(() => undefined);
  client.disconnect();
}

/** Apollo's KeyValueCache over ioredis, where a failure of any kind is a miss (get) or a no-op (set, delete). */
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
