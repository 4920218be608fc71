import type { GraphQLContext } from '../graphql/context.js';

/** The scope every caller shares while the gateway serves everybody the same figures. */
export const PUBLIC_SCOPE = 'public';

/**
 * Whose answers a request may share. Part of every response-cache key: once callers authenticate, a caller
 * who may see only some of the data returns a scope of their own (a tenant or role id), and their answers
 * are cached apart from everybody else's.
 */
export function cacheScope(_context: GraphQLContext): string {
  return PUBLIC_SCOPE;
}
