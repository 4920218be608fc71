import { sql } from 'kysely';
import { auditServer, type AuditResult } from 'graphql-http';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/app/create-gateway.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { testConfig } from '../support/config.js';
import { startTestGateway, type GraphQLResponse, type TestGateway } from '../support/gateway.js';

const QUERY = '{ dashboard { totalTransactions } }';
const PREFLIGHT = { 'apollo-require-preflight': 'true' };

function graphqlUrl(query: string): string {
  return `/graphql?${new URLSearchParams({ query }).toString()}`;
}

describe('GraphQL over HTTP', () => {
  let database: TestDatabase;
  let gateway: TestGateway;
  let production: TestGateway;
  let endpoint: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    gateway = await startTestGateway(database.handle);
    production = await startTestGateway(database.handle, { NODE_ENV: 'production' });
    const address = await gateway.app.listen({ port: 0, host: '127.0.0.1' });
    endpoint = `${address}/graphql`;
  });

  afterAll(async () => {
    await gateway?.close();
    await production?.close();
    await database?.drop();
  });

  describe('the graphql-http audit on a real socket', () => {
    let results: AuditResult[];

    beforeAll(async () => {
      results = await auditServer({ url: endpoint });
    });

    it('runs the audit suite', () => {
      expect(results.length).toBeGreaterThan(40);
    });

    it('passes every MUST audit', () => {
      const failed = results
        .filter((result) => result.name.startsWith('MUST') && result.status !== 'ok')
        .map((result) => `${result.id} ${result.name}: ${result.status === 'ok' ? '' : result.reason}`);
      expect(failed).toEqual([]);
    });

    it('fails no audit with an error status', () => {
      const errors = results
        .filter((result) => result.status === 'error')
        .map((result) => `${result.id} ${result.name}`);
      expect(errors).toEqual([]);
    });

    it('ends with no warnings: refused documents are 200 under application/json', () => {
      const warnings = results
        .filter((result) => result.status === 'warn')
        .map((result) => `${result.id} ${result.name}: ${result.status === 'warn' ? result.reason : ''}`);
      expect(warnings).toEqual([]);
    });
  });

  describe('POST /graphql', () => {
    it('answers application/json queries', async () => {
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
        body: JSON.stringify({ query: QUERY }),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^application\/graphql-response\+json/);
      expect(await response.json()).toEqual({
        data: { dashboard: { totalTransactions: 0 } },
        extensions: { cost: { requested: 2, maximum: 5_000 } },
      });
    });

    it('refuses a simple (form-like) POST because CSRF prevention is on', async () => {
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: JSON.stringify({ query: QUERY }),
      });
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expect(await response.text()).not.toContain('"data"');
    });
  });

  describe('GET /graphql', () => {
    it('runs a query when a CSRF-preflight header is present', async () => {
      const response = await gateway.app.inject({ method: 'GET', url: graphqlUrl(QUERY), headers: PREFLIGHT });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/^application\/(graphql-response\+)?json/);
      expect(response.json()).toEqual({
        data: { dashboard: { totalTransactions: 0 } },
        extensions: { cost: { requested: 2, maximum: 5_000 } },
      });
    });

    it('takes variables and operationName from the query string', async () => {
      const params = new URLSearchParams({
        query: 'query A { x: __typename } query Trend($days: Int) { dashboard { recentTrend(days: $days) { date } } }',
        operationName: 'Trend',
        variables: JSON.stringify({ days: 3 }),
      });
      const response = await gateway.app.inject({
        method: 'GET',
        url: `/graphql?${params.toString()}`,
        headers: PREFLIGHT,
      });
      expect(response.statusCode).toBe(200);
      expect(response.json().data.dashboard.recentTrend).toHaveLength(3);
    });

    it('refuses a query without a CSRF-preflight header (CSRF prevention stays on)', async () => {
      const response = await gateway.app.inject({ method: 'GET', url: graphqlUrl(QUERY) });
      expect(response.statusCode).toBe(400);
      expect(response.body).toMatch(/Cross-Site Request Forgery/);
      expect(response.body).not.toContain('"data"');
    });

    it('refuses a mutation with 405 or 400 and executes nothing', async () => {
      const response = await gateway.app.inject({
        method: 'GET',
        url: graphqlUrl('mutation { __typename }'),
        headers: PREFLIGHT,
      });
      expect([400, 405]).toContain(response.statusCode);
      const body = response.json<GraphQLResponse<unknown>>();
      expect(body.data ?? null).toBeNull();
      expect(body.errors?.length).toBeGreaterThan(0);
    });

    it('refuses a subscription with 405', async () => {
      const response = await gateway.app.inject({
        method: 'GET',
        url: graphqlUrl('subscription { dashboardUpdated { totalRevenue } }'),
        headers: PREFLIGHT,
      });
      expect(response.statusCode).toBe(405);
      expect(response.json<GraphQLResponse<unknown>>().data ?? null).toBeNull();
    });

    it('serves Apollo Sandbox to a browser outside production', async () => {
      const response = await gateway.app.inject({ method: 'GET', url: '/graphql', headers: { accept: 'text/html' } });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/html/);
      expect(response.body).toContain('id="embeddableSandbox"');
      expect(response.body).toContain('new window.EmbeddedSandbox');
    });

    it('does not serve Apollo Sandbox in production', async () => {
      const response = await production.app.inject({
        method: 'GET',
        url: '/graphql',
        headers: { accept: 'text/html' },
      });
      // Production has no landing page at all: a browser GET is just a GET without a query.
      expect(response.headers['content-type'] ?? '').not.toMatch(/^text\/html/);
      expect(response.body).not.toContain('id="embeddableSandbox"');
      expect(response.body).not.toContain('EmbeddedSandbox');
    });
  });
});

describe('unexpected errors', () => {
  let database: TestDatabase;
  const logged: { msg?: string; err?: { message?: string } }[] = [];
  const gateways: Gateway[] = [];

  async function startGateway(nodeEnv: 'test' | 'production'): Promise<Gateway> {
    const logger = pino({ level: 'error' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const gateway = await createGateway(testConfig({ NODE_ENV: nodeEnv }), database.handle, logger);
    await gateway.app.ready();
    gateways.push(gateway);
    return gateway;
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    // A throwaway database whose SQL now fails with "relation does not exist", not a connection problem.
    await sql`DROP VIEW v_daily_revenue CASCADE`.execute(database.handle.db);
  });

  afterAll(async () => {
    await Promise.all(gateways.map((gateway) => gateway.app.close()));
    await database?.drop();
  });

  it.each(['test', 'production'] as const)(
    'are masked as INTERNAL_SERVER_ERROR without SQL or stack (NODE_ENV=%s)',
    async (nodeEnv) => {
      const gateway = await startGateway(nodeEnv);
      logged.length = 0;
      const response = await gateway.app.inject({
        method: 'POST',
        url: '/graphql',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ query: '{ dashboard { totalRevenue } }' }),
      });
      const body = response.json<GraphQLResponse<unknown>>();
      expect(body.data ?? null).toBeNull();
      expect(body.errors).toHaveLength(1);
      expect(body.errors![0]).toMatchObject({
        message: 'Internal server error',
        path: ['dashboard', 'totalRevenue'],
        extensions: { code: 'INTERNAL_SERVER_ERROR' },
      });
      // The request id is there for support tickets; nothing else is added.
      expect(Object.keys(body.errors![0]!.extensions!)).toEqual(['code', 'requestId']);
      expect(response.body).not.toMatch(/v_daily_revenue|relation|SELECT|stacktrace|\.ts:\d+|127\.0\.0\.1/);

      // The real error is logged for operators.
      expect(logged.some((entry) => entry.err?.message?.includes('v_daily_revenue'))).toBe(true);
    },
  );
});
