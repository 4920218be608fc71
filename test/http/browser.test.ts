import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

const SANDBOX = 'https://studio.apollographql.com';
const DASHBOARD = '{ dashboard { totalTransactions } }';

let database: TestDatabase;
let gateway: TestGateway;
let base: string;

beforeAll(async () => {
  database = await createTestDatabase();
  gateway = await startTestGateway(
    database.handle,
    { CORS_ORIGINS: [SANDBOX, 'http://localhost:3000'] },
    {},
    { overHttp: true },
  );
  const address = gateway.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('the gateway does not listen on TCP');
  base = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  await gateway?.close();
  await database?.drop();
});

function preflight(origin: string) {
  return fetch(`${base}/graphql`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type,authorization',
    },
  });
}

describe('CORS', () => {
  it('answers a preflight from an allowed origin with that origin and the headers clients send', async () => {
    const response = await preflight(SANDBOX);
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(SANDBOX);
    expect(response.headers.get('access-control-allow-methods')).toBe('GET, POST');
    expect(response.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(response.headers.get('access-control-allow-headers')).toContain('x-api-key');
  });

  it('gives a forbidden origin no CORS grant, on the preflight and on the request', async () => {
    const response = await preflight('https://evil.example');
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    const post = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'application/json' },
      body: JSON.stringify({ query: DASHBOARD }),
    });
    // The browser withholds the answer from the page: no Access-Control-Allow-Origin.
    expect(post.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('lets an allowed origin read the answer and its exposed headers', async () => {
    const post = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { origin: SANDBOX, 'content-type': 'application/json' },
      body: JSON.stringify({ query: DASHBOARD }),
    });
    expect(post.status).toBe(200);
    expect(post.headers.get('access-control-allow-origin')).toBe(SANDBOX);
    expect(post.headers.get('access-control-expose-headers')).toContain('x-request-id');
  });

  it('refuses an allow list entry that is not an origin', () => {
    expect(() => loadConfig({ CORS_ORIGINS: 'https://studio.apollographql.com/sandbox' })).toThrow(/CORS_ORIGINS/);
    expect(loadConfig({ CORS_ORIGINS: `${SANDBOX}, http://localhost:3000` }).server.corsOrigins).toEqual([
      SANDBOX,
      'http://localhost:3000',
    ]);
    expect(loadConfig({}).server.corsOrigins).toEqual([]);
  });
});

describe('CSRF prevention', () => {
  it('refuses a GET query without a preflight-forcing header, and runs nothing', async () => {
    const response = await fetch(`${base}/graphql?query=${encodeURIComponent(DASHBOARD)}`, {
      headers: { origin: 'https://evil.example' },
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(/Cross-Site Request Forgery/);
  });

  it('refuses a POST a form could send (text/plain) without the header', async () => {
    const response = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ query: DASHBOARD }),
    });
    expect(response.status).toBe(400);
  });

  it('runs the GET query once apollo-require-preflight is sent', async () => {
    const response = await fetch(`${base}/graphql?query=${encodeURIComponent(DASHBOARD)}`, {
      headers: { 'apollo-require-preflight': 'true' },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ data: { dashboard: { totalTransactions: 0 } } });
  });
});
