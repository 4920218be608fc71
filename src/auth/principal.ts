import { ErrorCode } from '../errors/error-codes.js';
import { GraphQLError } from 'graphql';

/** Roles in ascending order of what they may read: each reads everything the ones before it read. */
export const ROLES = ['viewer', 'analyst', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Who is asking: a JWT subject, an API key, or, with AUTH_MODE=none, everybody. */
export interface Principal {
  kind: 'jwt' | 'api-key' | 'anonymous';
  /** `jwt:<sub>`, `api-key:<name>`, or `anonymous`. */
  id: string;
  role: Role;
}

/** With AUTH_MODE=none every caller reads everything, as before authentication existed. */
export const ANONYMOUS: Principal = { kind: 'anonymous', id: 'anonymous', role: 'admin' };

export function hasRole(principal: Principal, required: Role): boolean {
  return ROLES.indexOf(principal.role) >= ROLES.indexOf(required);
}

function forbidden(required: Role): GraphQLError {
  return new GraphQLError(`This field needs the ${required} role or higher`, {
    extensions: { code: ErrorCode.FORBIDDEN },
  });
}

/** Throws FORBIDDEN (on the field being resolved) unless the caller has `required` or a higher role. */
export function requireRole(principal: Principal, required: Role): void {
  if (!hasRole(principal, required)) throw forbidden(required);
}
