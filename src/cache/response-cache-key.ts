import { createHash } from 'node:crypto';
import { stableJson } from '../graphql/stable-json.js';

/** What a cached answer depends on besides the request itself. */
export interface CacheKeyContext {
  dataVersion: string;
  reportTimezone: string;
  scope: string;
}

/**
 * The key of one answer in the response cache (after the store's and the plugin's prefixes): the query text,
 * the operation name and the variables as the client sent them (with their keys sorted, and serialised
 * without recursion, so that no nesting can make a lookup throw), and the context the answer depends on.
 * Computed here, not by the plugin's default, so that the hit shortcut in front of Apollo computes the very
 * same key from the raw HTTP body. The operation name is the one sent (null when absent), not the one
 * Apollo resolves: a document with one operation, sent with and without its name, is two entries of the same
 * answer, which is harmless; an answer under the wrong operation is impossible.
 */
export function responseCacheKey(
  source: string,
  operationName: string | null,
  variables: Record<string, unknown>,
  context: CacheKeyContext,
): string {
  const text = stableJson([
    source,
    operationName,
    variables,
    context.dataVersion,
    context.reportTimezone,
    context.scope,
  ]);
  return createHash('sha256').update(text).digest('hex');
}
