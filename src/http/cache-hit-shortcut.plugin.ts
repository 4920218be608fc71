import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { responseMediaType } from './early-answer.js';
import { responseCacheKey } from '../cache/response-cache-key.js';
import { PERSISTED_QUERY_PREFIX } from '../cache/persisted-documents.js';
import type { ResponseCaching } from '../cache/response-cache.js';

// A cached answer is already JSON text in the store. Through Apollo, a hit is parsed, run through the request
// pipeline and serialised again, which costs more than the whole rest of the request: the dashboard from the
// cache ran at about 0.7x the rate of `{ __typename }`. This hook answers POST hits before Apollo, with the
// stored text spliced into the response, so a hit is one Redis GET and a string concatenation. Anything it is
// not sure about (GET requests, persisted-query registrations, unusual Accept headers, a miss) goes on to
// Apollo, where the response-cache plugin serves or computes and stores it as usual.

// The response-cache plugin stores JSON.stringify({ data, cachePolicy, cacheTime }). The data is taken as
// the text between the first and the last two fields, which cannot occur inside it any later than they do.
const DATA_START = '{"data":';
const POLICY = ',"cachePolicy":';
const TIME = ',"cacheTime":';

/** The stored answer's data as JSON text and when it was computed; undefined if the format is not as known. */
export function splitStoredAnswer(stored: string): { data: string; cacheTime: number } | undefined {
  if (!stored.startsWith(DATA_START) || !stored.endsWith('}')) return undefined;
  const policyAt = stored.lastIndexOf(POLICY);
  const timeAt = stored.lastIndexOf(TIME);
  if (policyAt < DATA_START.length || timeAt < policyAt) return undefined;
  const cacheTime = Number(stored.slice(timeAt + TIME.length, -1));
  if (!Number.isFinite(cacheTime)) return undefined;
  return { data: stored.slice(DATA_START.length, policyAt), cacheTime };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The query text of a request, when the shortcut can know it without Apollo's checks. */
async function sourceOf(body: Record<string, unknown>, caching: ResponseCaching): Promise<string | undefined> {
  const { query, extensions } = body;
  const persisted = isRecord(extensions) ? extensions.persistedQuery : undefined;
  if (persisted === undefined) return typeof query === 'string' ? query : undefined;
  // A registration (query and hash) must have its hash checked by Apollo; a bare hash is served from this
  // process's copy, which holds only queries Apollo has checked.
  if (query != null || !isRecord(persisted) || persisted.version !== 1 || typeof persisted.sha256Hash !== 'string')
    return undefined;
  return caching.localPersistedQueries.get(`${PERSISTED_QUERY_PREFIX}${persisted.sha256Hash}`);
}

export interface CacheHitShortcutOptions {
  caching: ResponseCaching;
  graphqlPath: string;
}

/**
 * A preHandler for the GraphQL route that answers cache hits itself and lets everything else through; after
 * authentication and the rate budget, whose hooks run before it (the caller's scope is part of the key).
 */
export const cacheHitShortcutPlugin = fp<CacheHitShortcutOptions>(
  (app, { caching, graphqlPath }, done) => {
    app.addHook('preHandler', async function answerFromCache(request: FastifyRequest, reply: FastifyReply) {
      if (request.method !== 'POST' || request.routeOptions.url !== graphqlPath || !caching.cache.hearsChanges())
        return;
      const body = request.body;
      if (!isRecord(body)) return;
      const { operationName, variables } = body;
      if (operationName != null && typeof operationName !== 'string') return;
      if (variables != null && !isRecord(variables)) return;
      const type = responseMediaType(request.headers.accept);
      if (!type) return;
      const source = await sourceOf(body, caching);
      if (source === undefined) return;

      const dataVersion = caching.cache.dataVersion();
      const keyContext = caching.keyContext(app.principalOf(request), dataVersion);
      const key = responseCacheKey(source, operationName ?? null, variables ?? {}, keyContext);
      const stored = await caching.answers.get(key);
      if (stored === undefined) {
        caching.lookedUp.set(body, { key, source, dataVersion });
        return;
      }
      const answer = splitStoredAnswer(stored);
      if (!answer) return;

      const age = Math.max(0, Math.round((Date.now() - answer.cacheTime) / 1000));
      void reply
        .code(200)
        .header('content-type', type)
        .header('cache-control', 'no-store')
        .header('x-cache', 'HIT')
        .header('age', String(age));
      // The same bytes Apollo would send: data, then extensions.cache as the freshness plugin writes it.
      const freshness = `{"hit":true,"ageSeconds":${age},"dataVersion":${JSON.stringify(dataVersion)}}`;
      return reply.send(`{"data":${answer.data},"extensions":{"cache":${freshness}}}\n`);
    });
    done();
  },
  { name: 'marketpulse-cache-hit-shortcut', dependencies: ['marketpulse-auth'] },
);
