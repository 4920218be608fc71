import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/auth/api-key.repository.js';
import { authConfig, bearer, signToken } from '../auth/auth-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

// Requests that fail authentication cost bounded work: no database query per made-up or refused API key,
// and an address whose keys keep failing has its keys refused unread, while keys it used before still work.

const QUERY = JSON.stringify({ query: '{ dashboard { totalTransactions } }' });

let database: TestDatabase;
let gateway: TestGateway;
let statements: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase({ onQuery: (sql) => void statements.push(sql) });
  gateway = await startTestGateway(database.handle, { ...authConfig, API_KEY_FAILURES_PER_MINUTE: 5 });
});

afterAll(async () => {
  await gateway?.close();
  await database?.drop();
});

/** POST /graphql from `address` (Fastify's inject lets a test pick the client address). */
async function ask(headers: Record<string, string>, address: string) {
  const response = await gateway.app.inject({
    method: 'POST',
    url: '/graphql',
    remoteAddress: address,
    headers: { 'content-type': 'application/json', ...headers },
    payload: QUERY,
  });
  return {
    status: response.statusCode,
    headers: response.headers,
    body: response.json<{ errors?: { extensions?: { code?: string; retryAfterSeconds?: number } }[] }>(),
  };
}

const apiKeyLookups = () => statements.filter((sql) => /from "?api_keys"?/i.test(sql)).length;

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

describe('failed API-key lookups per client address (API_KEY_FAILURES_PER_MINUTE)', () => {
  const made = (i: number) => `mpk_${String(i).padStart(43, 'Z')}`;

  it('refuses an address its keys with 429, unread, once 5 lookups in a minute found nothing', async () => {
    const address = '10.0.3.1';
    for (let i = 0; i < 5; i++) expect((await ask({ 'x-api-key': made(i) }, address)).status).toBe(401);
    statements = [];
    const refused = await ask({ 'x-api-key': made(99) }, address);
    expect(refused.status).toBe(429);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.body.errors?.[0]?.extensions?.retryAfterSeconds).toBe(Number(refused.headers['retry-after']));
    // A new key from that address is not read either, not even a valid one it never used.
    const { key: fresh } = await createApiKey(database.handle.db, 'fresh', 'viewer');
    expect((await ask({ 'x-api-key': fresh }, address)).status).toBe(429);
    expect(apiKeyLookups()).toBe(0);
    // Other addresses are not affected; tokens cost no query and are still checked.
    expect((await ask({ 'x-api-key': fresh }, '10.0.3.2')).status).toBe(200);
    expect((await ask(bearer(await signToken({ role: 'viewer' })), address)).status).toBe(200);
    expect((await ask(bearer('not.a.token'), address)).status).toBe(401);
  });

  it('still serves a key it accepted recently to a client that shares its address with a bad one', async () => {
    const address = '10.0.4.1';
    const { key } = await createApiKey(database.handle.db, 'neighbour', 'viewer');
    expect((await ask({ 'x-api-key': key }, address)).status).toBe(200);
    for (let i = 100; i < 110; i++) await ask({ 'x-api-key': made(i) }, address);
    expect((await ask({ 'x-api-key': made(200) }, address)).status).toBe(429);
    expect((await ask({ 'x-api-key': key }, address)).status).toBe(200);
  });
});
