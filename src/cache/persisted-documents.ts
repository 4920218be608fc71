import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ApolloServerPlugin } from '@apollo/server';
import type { KeyValueCache, KeyValueCacheSetOptions } from '@apollo/utils.keyvaluecache';

/** Apollo's prefix for persisted queries (inside the store's prefix). */
export const PERSISTED_QUERY_PREFIX = 'apq:';

/** The manifest GraphQL Code Generator writes from schema/operations (`npm run codegen`). */
export const PERSISTED_DOCUMENTS_FILE = fileURLToPath(
  new URL('../../schema/persisted/persisted-documents.json', import.meta.url),
);

/**
 * Reads the persisted-documents manifest ("sha256:<hash>" -> query text) into `apq:<hash>` entries, the keys
 * under which Apollo's automatic persisted queries look documents up. Every hash is checked against its text,
 * so a hand-edited manifest cannot make a hash stand for another query.
 */
export function loadPersistedDocuments(file = PERSISTED_DOCUMENTS_FILE): Map<string, string> {
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  const documents = new Map<string, string>();
  for (const [key, query] of Object.entries(manifest)) {
    const hash = key.replace(/^sha256:/, '');
    if (createHash('sha256').update(query).digest('hex') !== hash) {
      throw new Error(`${file}: the hash ${key} does not match its document; run npm run codegen`);
    }
    documents.set(`${PERSISTED_QUERY_PREFIX}${hash}`, query);
  }
  return documents;
}

/**
 * Persisted documents in front of the APQ store: a client may send the hash of a manifest operation without
 * ever registering it. Everything else (registrations, other hashes) goes to the store behind.
 */
export class PreloadedDocuments implements KeyValueCache<string> {
  constructor(
    private readonly documents: ReadonlyMap<string, string>,
    private readonly store: KeyValueCache<string>,
  ) {}

  async get(key: string): Promise<string | undefined> {
    return this.documents.get(key) ?? this.store.get(key);
  }

  set(key: string, value: string, options?: KeyValueCacheSetOptions): Promise<void> {
    return this.store.set(key, value, options);
  }

  delete(key: string): Promise<boolean | void> {
    return this.store.delete(key);
  }
}

// Registrations (automatic persisted queries) put a client's text into the shared store, where every gateway
// finds it. Three things bound what that may cost: Apollo registers a document only once it has passed every
// check (parsing, validation, the limits, cost, the rate budget), a registration keeps at most
// PERSISTED_QUERY_MAX_BYTES for PERSISTED_QUERY_TTL_SECONDS, and it is paid for by size from the caller's rate
// budget. At the default budget (20,000 points a minute) one principal can store at most 200 KB a minute, so
// at most 12 MB of its registrations exist at any time.

/** How long a registration is kept. Clients send a document again, with its hash, when it has gone. */
export const PERSISTED_QUERY_TTL_SECONDS = 60 * 60;

/** A registration costs 1 point of the rate budget per this many bytes of its document, rounded up. */
export const REGISTRATION_BYTES_PER_POINT = 10;

/**
 * The registration store: documents longer than `maxBytes` are not kept. Their query still runs; the client
 * finds the hash unknown next time and sends the document whole again, as for an expired one.
 */
export class CappedRegistrations implements KeyValueCache<string> {
  constructor(
    private readonly store: KeyValueCache<string>,
    private readonly maxBytes: number,
  ) {}

  get(key: string): Promise<string | undefined> {
    return this.store.get(key);
  }

  async set(key: string, value: string, options?: KeyValueCacheSetOptions): Promise<void> {
    if (registrationBytes(value) > this.maxBytes) return;
    await this.store.set(key, value, options);
  }

  delete(key: string): Promise<boolean | void> {
    return this.store.delete(key);
  }
}

function registrationBytes(document: string): number {
  return Buffer.byteLength(document, 'utf8');
}

/**
 * Charges a registration that will be kept 1 point per REGISTRATION_BYTES_PER_POINT bytes of its document, on
 * top of the query's own cost, before it runs; past the budget it is refused with RATE_LIMITED and not kept.
 */
export function registrationPricePlugin<Context extends { chargeCost(points: number): Promise<void> }>(
  maxBytes: number,
): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ metrics, source, contextValue }) {
          if (!metrics.persistedQueryRegister) return;
          const bytes = registrationBytes(source);
          if (bytes > maxBytes) return;
          await contextValue.chargeCost(Math.ceil(bytes / REGISTRATION_BYTES_PER_POINT));
        },
      };
    },
  };
}
