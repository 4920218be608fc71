import type { AuthChecker } from 'type-graphql';
import type { GraphQLContext } from './context.js';
import { ROLES, isRole, requireRole, type Role } from '../auth/principal.js';

/**
 * `@Authorized('analyst')` on a field: the lowest role that may read it. A denied field throws FORBIDDEN,
 * which graphql-js reports on that field while the rest of the query is answered.
 */
export const authChecker: AuthChecker<GraphQLContext> = ({ context }, roles) => {
  const listed = roles.filter(isRole);
  const lowest: Role =
    listed.length === 0 ? 'viewer' : listed.reduce((a, b) => (ROLES.indexOf(a) <= ROLES.indexOf(b) ? a : b));
  requireRole(context.principal, lowest);
  return true;
};
