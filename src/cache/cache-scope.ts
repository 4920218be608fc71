import { ANONYMOUS, type Principal } from '../auth/principal.js';

/** The scope every caller shares while the gateway serves everybody the same figures. */
export const PUBLIC_SCOPE = 'public';

/**
 * Whose answers a request may share. Part of every response-cache key (and of every live query's key): with
 * AUTH_MODE=required the scope is the caller's role (answers differ only by role: a viewer's has FORBIDDEN
 * where an analyst's has customers), so callers of different roles never share an answer; without
 * authentication everybody shares one scope.
 */
export function cacheScope(principal: Principal): string {
  return principal === ANONYMOUS ? PUBLIC_SCOPE : `role:${principal.role}`;
}
