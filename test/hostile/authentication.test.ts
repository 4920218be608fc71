import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/auth/api-key.repository.js';
import { authConfig, bearer, signToken } from '../auth/auth-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

// Requests that fail authentication cost bounded work: no database query per made-up or refused API key,
// and an address that keeps failing is turned away before its credentials are checked at all.

const QUERY = JSON.stringify({ query: '{ dashboard { totalTransactions } }' });

let database: TestDatabase;
let gateway: TestGateway;
let statements: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase({ onQuery: (sql) => void statements.push(sql) });
  gateway = await startTestGateway(database.handle, { ...authConfig, AUTH_FAILURES_PER_MINUTE: 5 });
});

afterAll(async () => {
  await gateway?.close();
  await database?.drop();
});

/** POST /graphql from `address` (Fastify's inject lets a test pick the client address). */
async function ask(headers: Record<string, string>, address: string) {
  const response = await gateway.app.inject({ method: 'POST', url: '/graphql', remoteAddress: address, headers: { 'content-type': 'application/json', ...headers }, payload: QUERY });
  return { status: response.statusCode, headers: response.headers, body: response.json() as { errors?: { extensions?: { code?: string; retryAfterSeconds?: number } }[] } };
}

const apiKeyLookups = () => statements.filter((sql) => /from api_keys/i.test(sql)).length;

describe('JWT subjects', () => {
  it.each([
    ['an empty subject', ''],
    ['a blank subject', '   '],
    ['a subject of 1,000 characters', 'x'.repeat(1_000)],
  ])('refuses a token with %s with 401 UNAUTHENTICATED', async (_label, subject) => {
    const response = await ask(bearer(await signToken({ role: 'admin', subject })), '10.0.0.1');
    expect(response.status).toBe(401);
    expect(response.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('answers a token with a subject', async () => {
    expect((await ask(bearer(await signToken({ role: 'viewer', subject: 'dana' })), '10.0.0.2')).status).toBe(200);
  });
});

describe('failed API-key lookups', () => {
  it('refuses a key that cannot be one of ours without a query', async () => {
    statements = [];
    for (const key of ['nope', `mpk_${'x'.repeat(10)}`, `mpk_${'y'.repeat(5_000)}`]) {
      expect((await ask({ 'x-api-key': key }, '10.0.1.1')).status).toBe(401);
    }
    expect(apiKeyLookups()).toBe(0);
  });

  it('looks a refused key up once, not every time it is sent', async () => {
    const { key } = await createApiKey(database.handle.db, 'soon-revoked', 'viewer');
    const unknown = `mpk_${'A'.repeat(43)}`;
    statements = [];
    for (let i = 0; i < 3; i++) {
      expect((await ask({ 'x-api-key': unknown }, `10.0.2.${i}`)).status).toBe(401);
    }
    expect(apiKeyLookups()).toBe(1);
    // A live key is still looked up (and answered) every time.
    expect((await ask({ 'x-api-key': key }, '10.0.2.9')).status).toBe(200);
  });
});

describe('failed authentications per client address (AUTH_FAILURES_PER_MINUTE)', () => {
  it('turns an address away with 429 once it has failed 5 times in a minute, before checking anything', async () => {
    const address = '10.0.3.1';
    const made = (i: number) => `mpk_${String(i).padStart(43, 'Z')}`;
    for (let i = 0; i < 5; i++) expect((await ask({ 'x-api-key': made(i) }, address)).status).toBe(401);
    statements = [];
    const refused = await ask({ 'x-api-key': made(99) }, address);
    expect(refused.status).toBe(429);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // Even valid credentials wait: the address is not checked at all.
    const token = await ask(bearer(await signToken({ role: 'viewer' })), address);
    expect(token.status).toBe(429);
    expect(apiKeyLookups()).toBe(0);
    // Other addresses are not affected, and a request without credentials is plainly 401.
    expect((await ask(bearer(await signToken({ role: 'viewer' })), '10.0.3.2')).status).toBe(200);
    expect((await ask({}, '10.0.3.3')).status).toBe(401);
  });

  it('counts bad tokens too', async () => {
    const address = '10.0.4.1';
    for (let i = 0; i < 5; i++) expect((await ask(bearer(`not.a.token${i}`), address)).status).toBe(401);
    expect((await ask(bearer('not.a.token'), address)).status).toBe(429);
  });
});
