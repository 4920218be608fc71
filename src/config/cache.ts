import { z } from 'zod';
import { nonNegativeInt, positiveInt, type Parsed, type Variables } from './variables.js';

/** The response cache, persisted queries and the store of parsed documents. */
export const cacheVariables = {
  CACHE_TTL_SECONDS: nonNegativeInt.default(60),
  CACHE_KEY_PREFIX: z.string().default('marketpulse:'),
  CACHE_MAX_MB: positiveInt.default(64),
  // The longest document an automatic persisted query may register (src/cache/persisted-documents.ts).
  PERSISTED_QUERY_MAX_BYTES: nonNegativeInt.default(8 * 1024),
  // Parsed and validated documents kept for reuse, counted by what they keep alive (src/cache/document-store.ts).
  DOCUMENT_CACHE_MB: positiveInt.default(32),
} satisfies Variables;

export function cacheConfig(env: Parsed<typeof cacheVariables>) {
  return {
    /** 0 turns the response cache off (persisted queries still use the store). */
    ttlSeconds: env.CACHE_TTL_SECONDS,
    /** Put before every key in Redis (the rate budgets' too), so that deployments can share one Redis. */
    keyPrefix: env.CACHE_KEY_PREFIX,
    /** Size bound of the in-process LRU used without Redis. */
    maxMegabytes: env.CACHE_MAX_MB,
    persistedQueryMaxBytes: env.PERSISTED_QUERY_MAX_BYTES,
    documentCacheMegabytes: env.DOCUMENT_CACHE_MB,
  };
}

export type CacheConfig = ReturnType<typeof cacheConfig>;
