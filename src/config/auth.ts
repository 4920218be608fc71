import { z } from 'zod';
import { nonNegativeInt, optionalText, type Parsed, type Variables } from './variables.js';

/** Signs cursors when CURSOR_SECRET is not set: anybody who reads this file can sign cursors with it. */
export const DEFAULT_CURSOR_SECRET = 'marketpulse-cursor-integrity';

/** Who may ask: the authentication mode, bearer tokens, API-key lookups; and the secret cursors are signed with. */
export const authVariables = {
  AUTH_MODE: z.enum(['none', 'required']).default('none'),
  JWT_SECRET: optionalText.pipe(z.string().min(32, { message: 'must be at least 32 characters' }).optional()),
  JWT_JWKS_URL: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),
  JWT_ISSUER: optionalText,
  JWT_AUDIENCE: optionalText,
  JWT_ROLE_CLAIM: z.string().min(1).default('role'),
  // API-key lookups that may find nothing per client address and minute before its keys go unread; 0: no limit.
  API_KEY_FAILURES_PER_MINUTE: nonNegativeInt.default(20),
  CURSOR_SECRET: z.string().min(16).default(DEFAULT_CURSOR_SECRET),
} satisfies Variables;

export function authConfig(env: Parsed<typeof authVariables>) {
  return {
    mode: env.AUTH_MODE,
    jwt: {
      secret: env.JWT_SECRET,
      jwksUrl: env.JWT_JWKS_URL,
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
      roleClaim: env.JWT_ROLE_CLAIM,
    },
    apiKeyFailuresPerMinute: env.API_KEY_FAILURES_PER_MINUTE,
    cursorSecret: env.CURSOR_SECRET,
  };
}

export type AuthConfig = ReturnType<typeof authConfig>;

/** What contradicts itself among the authentication variables. */
export function authProblems(env: Partial<Parsed<typeof authVariables>>, given: (name: string) => boolean): string[] {
  const problems: string[] = [];
  if (given('JWT_SECRET') && given('JWT_JWKS_URL'))
    problems.push('JWT_SECRET, JWT_JWKS_URL: set one of them, not both');
  // A token from anybody's identity provider, or meant for another service, must not be accepted here.
  if ((given('JWT_SECRET') || given('JWT_JWKS_URL')) && !(env.JWT_ISSUER && env.JWT_AUDIENCE)) {
    problems.push('JWT_ISSUER, JWT_AUDIENCE: both are required when tokens are accepted (JWT_SECRET or JWT_JWKS_URL)');
  }
  return problems;
}
