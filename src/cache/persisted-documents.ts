import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { KeyValueCache, KeyValueCacheSetOptions } from '@apollo/utils.keyvaluecache';

/** Apollo's prefix for persisted queries (inside the store's prefix). */
export const PERSISTED_QUERY_PREFIX = 'apq:';

/** The manifest GraphQL Code Generator writes from schema/operations (`npm run codegen`). */
export const PERSISTED_DOCUMENTS_FILE = fileURLToPath(new URL('../../schema/persisted/persisted-documents.json', import.meta.url));

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
