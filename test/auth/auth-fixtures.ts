import { SignJWT } from 'jose';
import type { TestSettings } from '../support/config.js';

// Shared by the auth tests: a gateway configuration with AUTH_MODE=required and tokens signed for it.

export const JWT_SECRET = 'test-jwt-secret-0123456789-abcdefghij';
export const JWT_ISSUER = 'https://issuer.test';
export const JWT_AUDIENCE = 'marketpulse-test';

export const authConfig: TestSettings = {
  AUTH_MODE: 'required',
  JWT_SECRET,
  JWT_ISSUER,
  JWT_AUDIENCE,
  JWT_ROLE_CLAIM: 'role',
};

export interface TokenOptions {
  /** Any string: a role, or a claim that is not one. */
  role?: string;
  subject?: string;
  issuer?: string;
  audience?: string;
  expiresAt?: number | string;
  secret?: string;
}

export async function signToken(options: TokenOptions = {}): Promise<string> {
  return new SignJWT({ role: options.role ?? 'viewer' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(options.subject ?? 'someone@example.test')
    .setIssuer(options.issuer ?? JWT_ISSUER)
    .setAudience(options.audience ?? JWT_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(options.expiresAt ?? '5m')
    .sign(new TextEncoder().encode(options.secret ?? JWT_SECRET));
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

export const DASHBOARD_AND_CUSTOMERS = `query DashboardAndCustomers {
  dashboard { totalTransactions }
  customers(first: 5) { totalCount edges { node { name } } }
}`;
