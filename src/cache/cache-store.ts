import { InMemoryLRUCache, PrefixingKeyValueCache, type KeyValueCache } from '@apollo/utils.keyvaluecache';
import type { RedisConnection } from '../config/config.js';
import { closeRedisClient, createRedisClient, RedisKeyValueCache } from './redis-cache.js';
import type { CacheLogger } from '../observability/throttled-warn.js';

export interface CacheStoreOptions {
  /** Redis (a connection, or a URL) to share entries between gateways; without it, an LRU in this process. */
  redis?: RedisConnection | string | undefined;
  /** Put before every key, so that several deployments (or test files) can share one Redis. */
  keyPrefix: string;
  commandTimeoutMs: number;
  /** Size bound of the in-process LRU, in MiB of stored text. */
  maxMegabytes: number;
  logger: CacheLogger;
}

export interface CacheStore {
  kind: 'redis' | 'memory';
  /** Every key already starts with the key prefix. */
  cache: KeyValueCache<string>;
  /** Whether the store can be used now: the in-process LRU always can, Redis while connected. */
  status(): 'up' | 'down' | 'memory';
  close(): Promise<void>;
}

export function openCacheStore(options: CacheStoreOptions): CacheStore {
  if (!options.redis) {
    const lru = new InMemoryLRUCache<string>({ maxSize: options.maxMegabytes * 2 ** 20 });
    return {
      kind: 'memory',
      cache: new PrefixingKeyValueCache(lru, options.keyPrefix),
      status: () => 'memory',
      close: async () => lru.clear(),
    };
  }
  const client = createRedisClient(options.redis, options);
  return {
    kind: 'redis',
    cache: new PrefixingKeyValueCache(new RedisKeyValueCache(client, options.logger), options.keyPrefix),
    status: () => (client.status === 'ready' ? 'up' : 'down'),
    close: () => closeRedisClient(client),
  };
}
