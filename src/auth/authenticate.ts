import { ErrorCode } from '../errors/error-codes.js';
import { InMemoryLRUCache } from '@apollo/utils.keyvaluecache';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Kysely } from 'kysely';
import type { AuthConfig } from '../config/auth.js';
import type { Database } from '../db/database.js';
import { findActiveApiKey, hashApiKey, isApiKeyShape } from './api-key.repository.js';
import { TooManyFailedLookups, type FailedKeyLookups } from './failed-key-lookups.js';
import { ANONYMOUS, isRole, type Principal } from './principal.js';

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
    authorization:
      firstString(params.authorization) ?? firstString(params.Authorization) ?? firstString(headers.authorization),
    apiKey: firstString(params['x-api-key']) ?? firstString(params.apiKey) ?? firstString(headers['x-api-key']),
  };
}

const MAX_SUBJECT_LENGTH = 256;
const KEYS_REMEMBERED = 10_000;
const KEY_MEMORY_MS = 10 * 60 * 1_000;

export const CREDENTIALS_REQUIRED = 'Authentication required: send a Bearer token or an x-api-key header';

/** Why a request was turned away; the message is for the caller and never repeats what they sent. */
export class AuthenticationError extends Error {
  readonly code = ErrorCode.UNAUTHENTICATED;
}

/** `clientAddress`, when given, is where failed API-key lookups are counted (FailedKeyLookups). */
export type Authenticate = (credentials: Credentials, clientAddress?: string) => Promise<Principal>;

/**
 * The API-key half of authentication, where the cost is: every lookup is a query. A key not shaped like ours
 * is refused without one, and so is a key refused in the last minutes (a key unknown now can only become known
 * by being guessed, and a revoked one stays revoked, so such a refusal never goes stale; the time limit only
 * returns the memory). With `failures`, an address past its failed lookups has its keys refused unread
 * (TooManyFailedLookups), except keys accepted in the last minutes: a client that shares its address with a
 * bad one keeps working. Keys are remembered by their SHA-256, as the database stores them.
 */
function createApiKeyCheck(db: Kysely<Database>, failures: FailedKeyLookups | undefined) {
  const refused = new InMemoryLRUCache<true>({ maxSize: KEYS_REMEMBERED, ttl: KEY_MEMORY_MS });
  const accepted = new InMemoryLRUCache<true>({ maxSize: KEYS_REMEMBERED, ttl: KEY_MEMORY_MS });
  const unknownKey = () => new AuthenticationError('The API key is unknown or revoked');

  return async (key: string, clientAddress: string | undefined): Promise<Principal> => {
    if (!isApiKeyShape(key)) throw unknownKey();
    const hash = hashApiKey(key);
    if (await refused.get(hash)) throw unknownKey();
    if (failures && clientAddress !== undefined && !(await accepted.get(hash))) {
      const wait = await failures.blockedFor(clientAddress);
      if (wait > 0) throw new TooManyFailedLookups(wait);
    }
    // Looked up every time, known or not: a revocation takes effect at once.
    const record = await findActiveApiKey(db, key);
    if (!record) {
      await Promise.all([
        refused.set(hash, true),
        accepted.delete(hash),
        clientAddress !== undefined && failures?.record(clientAddress),
      ]);
      throw unknownKey();
    }
    await accepted.set(hash, true);
    return { kind: 'api-key', id: `api-key:${record.id}`, role: record.role };
  };
}

/**
 * Who is asking. AUTH_MODE=none: everybody is ANONYMOUS (reads everything). AUTH_MODE=required: a Bearer JWT
 * (HS256 with JWT_SECRET, or a key from JWT_JWKS_URL; issuer, audience and expiry checked) or an API key;
 * anything else throws AuthenticationError, and a key from an address with too many failed lookups
 * TooManyFailedLookups.
 */
export function createAuthenticator(
  config: Pick<AuthConfig, 'mode' | 'jwt'>,
  db: Kysely<Database>,
  failures?: FailedKeyLookups,
): Authenticate {
  if (config.mode !== 'required') return async () => ANONYMOUS;
  const { jwt } = config;
  const secret = jwt.secret ? new TextEncoder().encode(jwt.secret) : undefined;
  const jwks: JWTVerifyGetKey | undefined = jwt.jwksUrl ? createRemoteJWKSet(new URL(jwt.jwksUrl)) : undefined;
  const { roleClaim } = jwt;

  async function fromToken(token: string): Promise<Principal> {
    if (!secret && !jwks) throw new AuthenticationError('Bearer tokens are not accepted by this gateway');
    let payload;
    try {
      const options = {
        ...(jwt.issuer ? { issuer: jwt.issuer } : {}),
        ...(jwt.audience ? { audience: jwt.audience } : {}),
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
      throw new AuthenticationError(
        `The bearer token has no valid subject ("sub", 1 to ${MAX_SUBJECT_LENGTH} characters)`,
      );
    }
    const role = payload[roleClaim];
    if (!isRole(role)) throw new AuthenticationError(`The bearer token has no valid "${roleClaim}" claim`);
    return { kind: 'jwt', id: `jwt:${subject}`, role };
  }

  const checkApiKey = createApiKeyCheck(db, failures);

  return async ({ authorization, apiKey }, clientAddress) => {
    if (apiKey) return checkApiKey(apiKey, clientAddress);
    if (authorization) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!match) throw new AuthenticationError('The Authorization header must be "Bearer <token>"');
      return fromToken(match[1]!);
    }
    throw new AuthenticationError(CREDENTIALS_REQUIRED);
  };
}
