import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { webcrypto } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, revokeApiKey } from '../../src/auth/api-key.repository.js';
import { toGlobalId } from '../../src/graphql/global-id.js';
import { insertSale } from '../cache/cache-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { DASHBOARD_AND_CUSTOMERS, JWT_AUDIENCE, JWT_ISSUER, authConfig, bearer, signToken } from './auth-fixtures.js';

type Answer = {
  dashboard: { totalTransactions: number };
  customers: { totalCount: number; edges: { node: { name: string } }[] } | null;
};

let database: TestDatabase;
let gateway: TestGateway;

beforeAll(async () => {
  database = await createTestDatabase();
  await insertSale(database.handle, '10.00', 3);
  gateway = await startTestGateway(database.handle, authConfig, {}, { overHttp: true });
});

afterAll(async () => {
  await gateway?.close();
  await database?.drop();
});

const DASHBOARD = { query: '{ dashboard { totalTransactions } }' };

async function expectUnauthenticated(headers: Record<string, string>) {
  const answer = await gateway.post(DASHBOARD, headers);
  expect(answer.status).toBe(401);
  expect(answer.body.data).toBeUndefined();
  expect(answer.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  return answer;
}

describe('authentication with AUTH_MODE=required', () => {
  it('answers 401 UNAUTHENTICATED without credentials', async () => {
    const answer = await expectUnauthenticated({});
    expect(answer.headers['www-authenticate']).toBe('Bearer');
  });

  it('answers 401 UNAUTHENTICATED for a malformed token', async () => {
    await expectUnauthenticated({ authorization: 'Bearer not.a.jwt' });
    await expectUnauthenticated({ authorization: 'Basic dXNlcjpwYXNz' });
  });

  it('answers 401 UNAUTHENTICATED for an expired token', async () => {
    await expectUnauthenticated(bearer(await signToken({ expiresAt: Math.floor(Date.now() / 1000) - 60 })));
  });

  it('answers 401 UNAUTHENTICATED for a token from another issuer', async () => {
    await expectUnauthenticated(bearer(await signToken({ issuer: 'https://elsewhere.test' })));
  });

  it('answers 401 UNAUTHENTICATED for a token for another audience', async () => {
    await expectUnauthenticated(bearer(await signToken({ audience: 'another-service' })));
  });

  it('answers 401 UNAUTHENTICATED for a token signed with another secret', async () => {
    await expectUnauthenticated(bearer(await signToken({ secret: 'another-secret-of-enough-length-0123456789' })));
  });

  it('answers 401 UNAUTHENTICATED for a token without a known role', async () => {
    await expectUnauthenticated(bearer(await signToken({ role: 'superuser' })));
  });

  it('never repeats the credentials in the error message', async () => {
    const token = await signToken({ issuer: 'https://elsewhere.test' });
    const answer = await expectUnauthenticated(bearer(token));
    expect(JSON.stringify(answer.body)).not.toContain(token);
  });

  it('answers a valid token', async () => {
    const answer = await gateway.post(DASHBOARD, bearer(await signToken()));
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      data: { dashboard: { totalTransactions: 3 } },
      extensions: { cost: { requested: 2, maximum: 5_000 } },
    });
  });

  it('answers a live API key and turns it away once revoked', async () => {
    const { key } = await createApiKey(database.handle.db, 'reporting-service', 'viewer');
    expect((await gateway.post(DASHBOARD, { 'x-api-key': key })).status).toBe(200);
    await revokeApiKey(database.handle.db, { name: 'reporting-service' });
    await expectUnauthenticated({ 'x-api-key': key });
  });

  it('answers 401 UNAUTHENTICATED for an unknown API key', async () => {
    await expectUnauthenticated({ 'x-api-key': 'mpk_unknown' });
  });

  it('answers 401 UNAUTHENTICATED to a query sent by GET without credentials', async () => {
    const response = await gateway.app.inject({
      method: 'GET',
      url: `/graphql?query=${encodeURIComponent('{ dashboard { totalTransactions } }')}`,
      headers: { 'apollo-require-preflight': 'true' },
    });
    expect(response.statusCode).toBe(401);
    expect(response.json().errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('keeps /healthz open', async () => {
    const response = await gateway.app.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
  });
});

describe('roles', () => {
  it('gives a viewer FORBIDDEN on customers and answers the other fields', async () => {
    const answer = await gateway.post<Answer>(
      { query: DASHBOARD_AND_CUSTOMERS },
      bearer(await signToken({ role: 'viewer' })),
    );
    expect(answer.status).toBe(200);
    expect(answer.body.data).toEqual({ dashboard: { totalTransactions: 3 }, customers: null });
    expect(answer.body.errors).toHaveLength(1);
    expect(answer.body.errors?.[0]?.path).toEqual(['customers']);
    expect(answer.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('gives a viewer FORBIDDEN on topCustomers and on a customer fetched through node', async () => {
    const headers = bearer(await signToken({ role: 'viewer' }));
    const answer = await gateway.post<{ products: { edges: { node: { name: string; topCustomers: unknown } }[] } }>(
      { query: '{ products(first: 1) { edges { node { name topCustomers(limit: 1) { name } } } } }' },
      headers,
    );
    expect(answer.body.data?.products.edges[0]?.node.name).toBeTypeOf('string');
    expect(answer.body.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);

    const id = toGlobalId('Customer', '1');
    const byNode = await gateway.post<{ node: unknown }>({ query: `{ node(id: "${id}") { id } }` }, headers);
    expect(byNode.body.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
  });

  it('answers an analyst asking for customers', async () => {
    const answer = await gateway.post<Answer>(
      { query: DASHBOARD_AND_CUSTOMERS },
      bearer(await signToken({ role: 'analyst' })),
    );
    expect(answer.status).toBe(200);
    expect(answer.body.errors).toBeUndefined();
    expect(answer.body.data?.customers?.totalCount).toBe(1);
  });

  it('answers an analyst API key asking for customers', async () => {
    const { key } = await createApiKey(database.handle.db, 'analyst-notebook', 'analyst');
    const answer = await gateway.post<Answer>({ query: DASHBOARD_AND_CUSTOMERS }, { 'x-api-key': key });
    expect(answer.body.errors).toBeUndefined();
    expect(answer.body.data?.customers?.edges).toHaveLength(1);
  });
});

describe('tokens from an identity provider (JWT_JWKS_URL)', () => {
  let jwksServer: Server;
  let jwksGateway: TestGateway;
  let providerKey: webcrypto.CryptoKey;
  let strangerKey: webcrypto.CryptoKey;

  beforeAll(async () => {
    const provider = await generateKeyPair('RS256');
    const stranger = await generateKeyPair('RS256');
    providerKey = provider.privateKey;
    strangerKey = stranger.privateKey;
    const jwks = JSON.stringify({
      keys: [{ ...(await exportJWK(provider.publicKey)), kid: 'provider-1', alg: 'RS256', use: 'sig' }],
    });
    jwksServer = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const { port } = jwksServer.address() as AddressInfo;
    jwksGateway = await startTestGateway(
      database.handle,
      {
        AUTH_MODE: 'required',
        JWT_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
        JWT_ISSUER,
        JWT_AUDIENCE,
      },
      {},
      { overHttp: true },
    );
  });

  afterAll(async () => {
    await jwksGateway?.close();
    await new Promise((resolve) => jwksServer?.close(resolve));
  });

  const tokenSignedWith = (key: webcrypto.CryptoKey, kid: string) =>
    new SignJWT({ role: 'viewer' })
      .setProtectedHeader({ alg: 'RS256', kid })
      .setSubject('svc@example.test')
      .setIssuer(JWT_ISSUER)
      .setAudience(JWT_AUDIENCE)
      .setExpirationTime('5m')
      .sign(key);

  it("answers a token signed with one of the provider's keys", async () => {
    const answer = await jwksGateway.post(DASHBOARD, bearer(await tokenSignedWith(providerKey, 'provider-1')));
    expect(answer.status).toBe(200);
    expect(answer.body.errors).toBeUndefined();
  });

  it('answers 401 UNAUTHENTICATED for a token signed with a key the provider does not publish', async () => {
    const answer = await jwksGateway.post(DASHBOARD, bearer(await tokenSignedWith(strangerKey, 'provider-1')));
    expect(answer.status).toBe(401);
    expect(answer.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('answers 401 UNAUTHENTICATED for an HS256 token when only the provider is trusted', async () => {
    const answer = await jwksGateway.post(DASHBOARD, bearer(await signToken({ role: 'admin' })));
    expect(answer.status).toBe(401);
  });
});
