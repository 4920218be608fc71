import type { ApolloServerPlugin, GraphQLRequestContext, PersistedQueryOptions } from '@apollo/server';
import {
  CappedRegistrations,
  loadPersistedDocuments,
  PERSISTED_QUERY_TTL_SECONDS,
  PreloadedDocuments,
} from './persisted-documents.js';
import ApolloServerPluginResponseCache from '@apollo/server-plugin-response-cache';
import { InMemoryLRUCache, PrefixingKeyValueCache, type KeyValueCache } from '@apollo/utils.keyvaluecache';
import { createHash } from 'node:crypto';
import type { GraphQLContext } from '../graphql/context.js';
import type { Principal } from '../auth/principal.js';
import { cacheScope } from './cache-scope.js';
import { ReadThroughCache } from './read-through-cache.js';
import { responseCacheKey, type CacheKeyContext } from './response-cache-key.js';

export interface GatewayCache {
  /** Where answers and persisted queries live: Redis or the in-process LRU, with the key prefix applied. */
  store: KeyValueCache<string>;
  /** How long an answer stays cached; 0 turns the response cache off (persisted queries still use `store`). */
  ttlSeconds: number;
  /** The current data version (ChangeListener.version); part of every key. */
  dataVersion(): string;
  /**
   * False while changes to the data may go unheard (ChangeListener.hearsChanges): then answers are computed,
   * and may be stored, but none is served from the cache.
   */
  hearsChanges(): boolean;
  /** Part of every key: gateways in different zones may share a Redis, and their days differ. */
  reportTimezone: string;
}

/** What `extensions.cache` of every response holds. */
export interface CacheFreshness {
  /** The answer came from the cache. */
  hit: boolean;
  /** Seconds since the answer was computed; 0 for a fresh one. */
  ageSeconds: number;
  /** The data version the answer was computed at (or cached under). */
  dataVersion: string;
}

/** The response-cache plugin's own prefix for answers (inside the store's prefix). */
export const ANSWER_PREFIX = 'fqc:';

const PERSISTED_QUERY_LOCAL_BYTES = 8 * 2 ** 20;
// The plugin's sessionMode for a request without a session; this gateway never defines one.
const NO_SESSION = 0;

/** What the hit shortcut looked up for a request body before Apollo ran it. */
export interface LookedUp {
  key: string;
  source: string;
  dataVersion: string;
}

/**
 * Everything the response cache consists of, for the HTTP server to wire in: Apollo's options and plugins,
 * and what the hit shortcut in front of Apollo shares with them.
 */
export interface ResponseCaching {
  cache: GatewayCache;
  persistedQueries: PersistedQueryOptions;
  plugins: ApolloServerPlugin<GraphQLContext>[];
  /** Answers under their full key (store prefix and the plugin's `fqc:`). */
  answers: KeyValueCache<string>;
  /** This process's copy of the persisted queries, under Apollo's `apq:` keys. */
  localPersistedQueries: KeyValueCache<string>;
  /**
   * Request bodies whose answer the shortcut already looked up and missed, with the key it looked under: Apollo
   * must not look again, and stores the answer under that key when nothing it depends on changed since.
   */
  lookedUp: WeakMap<object, LookedUp>;
  keyContext(principal: Principal, dataVersion: string): CacheKeyContext;
}

/**
 * Whole-response caching: Apollo's response-cache plugin with every field cacheable for `ttlSeconds`, keyed
 * by the query text, operation name and variables plus the data version, the report time zone and the
 * caller's scope (responseCacheKey). Errors are never cached. Automatic persisted queries live in the same
 * store, read through a local copy, each kept an hour at most and only up to `persistedQueryMaxBytes`
 * (persisted-documents.ts). The last plugin reports the freshness of every answer in
 * `extensions.cache` and an `x-cache` header.
 */
export function createResponseCaching(
  cache: GatewayCache,
  options: { persistedQueryMaxBytes: number },
): ResponseCaching {
  // The manifest's documents first, so their hashes work without a registration, then this process's copy.
  const localPersistedQueries = new PreloadedDocuments(
    loadPersistedDocuments(),
    new InMemoryLRUCache<string>({ maxSize: PERSISTED_QUERY_LOCAL_BYTES }),
  );
  const lookedUp = new WeakMap<object, LookedUp>();
  const bodyOf = (requestContext: Pick<GraphQLRequestContext<object>, 'request'>) => {
    const body = requestContext.request.http?.body;
    return body && typeof body === 'object' ? body : undefined;
  };
  const keyContext = (principal: Principal, dataVersion: string): CacheKeyContext => ({
    dataVersion,
    reportTimezone: cache.reportTimezone,
    scope: cacheScope(principal),
  });

  // The version a request started with, kept for both its cache key and its freshness report, so that a
  // change arriving in between cannot make the two disagree.
  const versions = new WeakMap<GraphQLContext, string>();
  const versionOf = (context: GraphQLContext) => versions.get(context) ?? cache.dataVersion();

  // Every field of the schema is cacheable for the TTL and none sets a hint of its own (an answer that must stay
  // fresh says so with `neverCache`), so the policy is set once per request. Apollo's cache-control plugin would
  // work it out field by field, with a hook around every resolver: about 7 % of the CPU of an uncached dashboard.
  const policy = { maxAge: cache.ttlSeconds, scope: 'PUBLIC' } as const;
  const freshness: ApolloServerPlugin<GraphQLContext> = {
    async requestDidStart({ contextValue, overallCachePolicy }) {
      versions.set(contextValue, cache.dataVersion());
      if (cache.ttlSeconds > 0) overallCachePolicy.replace(policy);
      return {
        async willSendResponse({ response, metrics, contextValue: context }) {
          const hit = metrics.responseCacheHit === true;
          // The response-cache plugin, registered before this one, has already set Age on a hit.
          const age = hit ? Number(response.http.headers.get('age') ?? 0) : 0;
          response.http.headers.set('x-cache', hit ? 'HIT' : 'MISS');
          // Answers are invalidated by events the gateway hears and HTTP caches do not: they must not keep them.
          response.http.headers.set('cache-control', 'no-store');
          if (response.body.kind !== 'single') return;
          const report: CacheFreshness = { hit, ageSeconds: age, dataVersion: versionOf(context) };
          const result = response.body.singleResult;
          result.extensions = { ...result.extensions, cache: report };
        },
      };
    },
  };

  const plugins: ApolloServerPlugin<GraphQLContext>[] =
    cache.ttlSeconds === 0
      ? [freshness]
      : [
          ApolloServerPluginResponseCache<GraphQLContext>({
            cache: cache.store,
            // The scope goes into the key, not into the plugin's sessionId: with a session the plugin looks up
            // two keys per request (private, then shared), and a scope's answers are all its own anyway.
            // Without a sessionId hook, a field ever hinted PRIVATE is simply not cached.
            extraCacheKeyData: async ({ contextValue }: GraphQLRequestContext<GraphQLContext>) =>
              keyContext(contextValue.principal, versionOf(contextValue)),
            shouldReadFromCache: async (requestContext: GraphQLRequestContext<GraphQLContext>) => {
              const body = bodyOf(requestContext);
              return cache.hearsChanges() && !(body && lookedUp.has(body));
            },
            // Customer-level answers are never stored: every one is read from PostgreSQL, so the audit trail
            // names exactly the customers each caller saw, and no customer data sits in a shared cache. Nor
            // are answers a field asked to keep fresh (the audit trail itself).
            shouldWriteToCache: async ({ contextValue }: GraphQLRequestContext<GraphQLContext>) =>
              !contextValue.customerAccess.touched && !contextValue.neverCache,
            generateCacheKey: (requestContext, keyData) => {
              const data = keyData as {
                source: string;
                variables: Record<string, unknown>;
                extra: CacheKeyContext;
                sessionMode: number;
              };
              // Never the case without a sessionId hook; should one be added, its keys stay apart from these.
              if (data.sessionMode !== NO_SESSION)
                return createHash('sha256').update(JSON.stringify(keyData)).digest('hex');
              // The shortcut worked the key out from the same body: the same, unless the data changed since.
              const body = bodyOf(requestContext);
              const looked = body && lookedUp.get(body);
              if (looked && looked.source === data.source && looked.dataVersion === data.extra.dataVersion)
                return looked.key;
              return responseCacheKey(
                data.source,
                requestContext.request.operationName ?? null,
                data.variables,
                data.extra,
              );
            },
          }),
          freshness,
        ];

  return {
    cache,
    persistedQueries: {
      cache: new CappedRegistrations(
        new ReadThroughCache(localPersistedQueries, cache.store),
        options.persistedQueryMaxBytes,
      ),
      ttl: PERSISTED_QUERY_TTL_SECONDS,
    },
    plugins,
    answers: new PrefixingKeyValueCache(cache.store, ANSWER_PREFIX),
    localPersistedQueries,
    lookedUp,
    keyContext,
  };
}
