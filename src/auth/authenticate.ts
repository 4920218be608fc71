import { InMemoryLRUCache } from '@apollo/utils.keyvaluecache';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import { findActiveApiKey, isApiKeyShape } from './api-key.repository.js';
import { ANONYMOUS, isRole, type Principal } from './principal.js';

export type AuthConfig = Pick<Config, 'AUTH_MODE' | 'JWT_SECRET' | 'JWT_JWKS_URL' | 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'JWT_ROLE_CLAIM'>;

export interface Credentials {
  authorization?: string;
  apiKey?: string;
}

/** The first non-empty string of a header (or connection parameter) that may be repeated. */
function firstString(value: unknown): string | undefined {
  if (Array.isArray(value)) return firstString(value[0]);
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * The credentials a caller sent: `Authorization` and `x-api-key` from the HTTP headers, or, for a WebSocket,
 * from `connection_init`'s payload first (browsers cannot set headers on a WebSocket) and then the upgrade's.
 */
export function credentialsFrom(headers: Record<string, unknown>, params: Record<string, unknown> = {}): Credentials {
  return {
    authorization: firstString(params.authorization) ?? firstString(params.Authorization) ?? firstString(headers.authorization),
    apiKey: firstString(params['x-api-key']) ?? firstString(params.apiKey) ?? firstString(headers['x-api-key']),
  };
}

const MAX_SUBJECT_LENGTH = 256;
const REFUSED_KEYS_KEPT = 10_000;
const REFUSED_KEY_TTL_MS = 10 * 60 * 1_000;

export const CREDENTIALS_REQUIRED = 'Authentication required: send a Bearer token or an x-api-key header';

/** Why a request was turned away; the message is for the caller and never repeats what they sent. */
export class AuthenticationError extends Error {
  readonly code = 'UNAUTHENTICATED';
}

export type Authenticate = (credentials: Credentials) => Promise<Principal>;

/**
 * Who is asking. AUTH_MODE=none: everybody is ANONYMOUS (reads everything). AUTH_MODE=required: a Bearer JWT
 * (HS256 with JWT_SECRET, or a key from JWT_JWKS_URL; issuer, audience and expiry checked) or an API key;
 * anything else throws AuthenticationError.
 */
export function createAuthenticator(config: Partial<AuthConfig>, db: Kysely<Database>): Authenticate {
  if (config.AUTH_MODE !== 'required') return async () => ANONYMOUS;
  const secret = config.JWT_SECRET ? new TextEncoder().encode(config.JWT_SECRET) : undefined;
  const jwks: JWTVerifyGetKey | undefined = config.JWT_JWKS_URL ? createRemoteJWKSet(new URL(config.JWT_JWKS_URL)) : undefined;
  const roleClaim = config.JWT_ROLE_CLAIM ?? 'role';

  async function fromToken(token: string): Promise<Principal> {
    if (!secret && !jwks) throw new AuthenticationError('Bearer tokens are not accepted by this gateway');
    let payload;
    try {
      const options = {
        ...(config.JWT_ISSUER ? { issuer: config.JWT_ISSUER } : {}),
        ...(config.JWT_AUDIENCE ? { audience: config.JWT_AUDIENCE } : {}),
        requiredClaims: ['exp', 'sub'],
      };
      ({ payload } = secret
        ? await jwtVerify(token, secret, { ...options, algorithms: ['HS256'] })
        : await jwtVerify(token, jwks!, { ...options, algorithms: ['RS256', 'ES256', 'PS256', 'EdDSA'] }));
    } catch {
      // jose's message can say which check failed; the caller learns only that the token was not accepted.
      throw new AuthenticationError('The bearer token is invalid or expired');
    }
    // jose checks that `sub` is there, not that it names anybody: "" would make every such token one principal.
    const subject = payload.sub;
    if (typeof subject !== 'string' || subject.trim() === '' || subject.length > MAX_SUBJECT_LENGTH) {
      throw new AuthenticationError(`The bearer token has no valid subject ("sub", 1 to ${MAX_SUBJECT_LENGTH} characters)`);
    }
    const role = payload[roleClaim];
    if (!isRole(role)) throw new AuthenticationError(`The bearer token has no valid "${roleClaim}" claim`);
    return { kind: 'jwt', id: `jwt:${subject}`, role };
  }

  // Keys that failed recently, so that sending one again costs no query. A key unknown now can only become
  // known by being guessed, and a revoked one stays revoked: a refusal never goes stale, and the time limit
  // only returns the memory.
  const refusedKeys = new InMemoryLRUCache<true>({ maxSize: REFUSED_KEYS_KEPT, ttl: REFUSED_KEY_TTL_MS });
  const unknownKey = () => new AuthenticationError('The API key is unknown or revoked');

  return async ({ authorization, apiKey }) => {
    if (apiKey) {
      if (!isApiKeyShape(apiKey) || (await refusedKeys.get(apiKey))) throw unknownKey();
      const record = await findActiveApiKey(db, apiKey);
      if (!record) {
        await refusedKeys.set(apiKey, true);
        throw unknownKey();
      }
      return { kind: 'api-key', id: `api-key:${record.id}`, role: record.role };
    }
    if (authorization) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!match) throw new AuthenticationError('The Authorization header must be "Bearer <token>"');
      return fromToken(match[1]!);
    }
    throw new AuthenticationError(CREDENTIALS_REQUIRED);
  };
}
