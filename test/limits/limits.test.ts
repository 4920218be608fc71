import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway, type GraphQLResponse, type TestGateway } from '../support/gateway.js';
import { openStore, startCachedGateway, uniquePrefix } from '../support/gateway-with-cache.js';

function codes(body: GraphQLResponse<unknown>): (string | undefined)[] {
  return (body.errors ?? []).map((error) => error.extensions?.code);
}

// customers → edges → node → favoriteProduct → topCustomers → ... : `levels` fields in one chain, which
// graphql-depth-limit counts as depth `levels - 1` (the root field is depth 0).
function nested(levels: number): string {
  const chain = ['customers', 'edges', 'node'];
  let next: 'favoriteProduct' | 'topCustomers' = 'favoriteProduct';
  while (chain.length < levels - 1) {
    chain.push(next);
    next = next === 'favoriteProduct' ? 'topCustomers' : 'favoriteProduct';
  }
  return `{ ${chain.map((field) => `${field} {`).join(' ')} name ${'}'.repeat(chain.length)} }`;
}

// Every limit is checked over a real socket, as clients meet it. A refused document is a GraphQL error, so
// under application/json (what these requests accept) it is answered 200; see the hostile HTTP tests for 400
// under application/graphql-response+json.
const OVER_HTTP = { overHttp: true };

describe('query limits', () => {
  let database: TestDatabase;
  let gateway: TestGateway;
  let production: TestGateway;
  let productionIntrospection: TestGateway;
  let roomyTokens: TestGateway;

  beforeAll(async () => {
    database = await createTestDatabase();
    gateway = await startTestGateway(database.handle, {}, {}, OVER_HTTP);
    production = await startTestGateway(database.handle, { NODE_ENV: 'production' }, {}, OVER_HTTP);
    productionIntrospection = await startTestGateway(
      database.handle,
      { NODE_ENV: 'production', INTROSPECTION: true },
      {},
      OVER_HTTP,
    );
    roomyTokens = await startTestGateway(database.handle, { QUERY_MAX_TOKENS: 100_000 }, {}, OVER_HTTP);
  });

  afterAll(async () => {
    await Promise.all([gateway, production, productionIntrospection, roomyTokens].map((g) => g?.close()));
    await database?.drop();
  });

  describe('depth (default 10)', () => {
    it('answers a query exactly at the limit', async () => {
      const { status, body } = await gateway.request(nested(11));
      expect(body.errors).toBeUndefined();
      expect(status).toBe(200);
    });

    it('refuses a query one level over it', async () => {
      const { status, body } = await gateway.request(nested(12));
      expect(status).toBe(200);
      expect(codes(body)).toEqual(['QUERY_TOO_DEEP']);
      expect(body.errors?.[0]?.extensions).toEqual({
        code: 'QUERY_TOO_DEEP',
        maxDepth: 10,
        requestId: expect.any(String),
      });
      expect(body.data).toBeUndefined();
    });

    it('counts depth hidden in fragments', async () => {
      const query = `
        query { customers { ...Page } }
        fragment Page on CustomerConnection { edges { node { ...Deep } } }
        fragment Deep on Customer { favoriteProduct { topCustomers { ...Deeper } } }
        fragment Deeper on Customer { favoriteProduct { topCustomers { favoriteProduct { topCustomers { favoriteProduct { topCustomers { name } } } } } } }`;
      const { status, body } = await gateway.request(query);
      expect(status).toBe(200);
      expect(codes(body)).toEqual(['QUERY_TOO_DEEP']);
    });

    it('refuses a self-referencing fragment with a code, not a crash', async () => {
      const query = `{ customers { edges { node { ...Loop } } } }
        fragment Loop on Customer { name favoriteProduct { topCustomers { ...Loop } } }`;
      const { status, body } = await gateway.request(query);
      expect(status).toBe(200);
      expect(codes(body)).toContain('GRAPHQL_VALIDATION_FAILED');
      expect(codes(body)).not.toContain('INTERNAL_SERVER_ERROR');
    });

    it('refuses a fragment spreading itself without a field in between', async () => {
      const { status, body } = await gateway.request(
        `{ customers { edges { node { ...Loop } } } } fragment Loop on Customer { ...Loop }`,
      );
      expect(status).toBe(200);
      expect(codes(body)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    });

    it('refuses fragments that multiply into an exponential document, quickly', async () => {
      // F0 spreads F1 three times, F1 spreads F2 three times, ...: 3^30 selections from a few hundred tokens.
      const chain = Array.from(
        { length: 30 },
        (_, i) => `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} ...F${i + 1} }`,
      );
      const query = `{ ...F0 } ${chain.join(' ')} fragment F30 on Query { __typename }`;
      const started = Date.now();
      const { status, body } = await gateway.request(query);
      expect(status).toBe(200);
      expect(codes(body)).toContain('QUERY_TOO_COMPLEX');
      // Walking 3^30 selections would take hours; refusing it is a linear pass.
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    it('refuses an unknown fragment with a code, not a crash', async () => {
      const { status, body } = await gateway.request('{ customers { edges { node { ...Missing } } } }');
      expect(status).toBe(200);
      expect(codes(body)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      expect(body.errors?.[0]?.message).toContain('Unknown fragment "Missing"');
    });
  });

  it('refuses an alias flood (default 15)', async () => {
    const aliases = Array.from({ length: 100 }, (_, i) => `a${i}: __typename`).join(' ');
    const { status, body } = await gateway.request(`{ ${aliases} }`);
    expect(status).toBe(200);
    expect(codes(body)).toEqual(['TOO_MANY_ALIASES']);
  });

  it('refuses a field repeated 10,000 times by its token count (default 2,000)', async () => {
    const { status, body } = await gateway.request(`{ product(id: "x") { ${'id '.repeat(10_000)}} }`);
    expect(status).toBe(200);
    expect(codes(body)).toEqual(['TOO_MANY_TOKENS']);
  });

  it('refuses 1,000 directives (default 50)', async () => {
    const query = `{ __typename ${'@include(if: true) '.repeat(1_000)} }`;
    const { status, body } = await roomyTokens.request(query);
    expect(status).toBe(200);
    expect(codes(body)).toContain('TOO_MANY_DIRECTIVES');
    // With the default token limit the same document never gets past the parser.
    const strict = await gateway.request(query);
    expect(strict.status).toBe(200);
    expect(codes(strict.body)).toEqual(['TOO_MANY_TOKENS']);
  });

  describe('cost (default 5,000)', () => {
    const deep = `{ customers(first: 100) { edges { node { favoriteProduct { topCustomers(limit: 20) {
      favoriteProduct { topCustomers(limit: 20) { name } } } } } } } }`;

    it('refuses first: 100 over three nested lists', async () => {
      const { status, body } = await gateway.request(deep);
      expect(status).toBe(200);
      expect(codes(body)).toEqual(['QUERY_TOO_COMPLEX']);
      expect(body.errors?.[0]?.extensions?.cost).toBeGreaterThan(5_000);
      expect(body.errors?.[0]?.extensions).toEqual({
        code: 'QUERY_TOO_COMPLEX',
        cost: expect.any(Number),
        maxCost: 5_000,
        requestId: expect.any(String),
      });
    });

    it('counts page sizes given through variables', async () => {
      const query = `query Page($n: Int, $k: Int) { products(first: $n) { edges { node { name topCustomers(limit: $k) { name city email lifetimeValue } } } } }`;
      const cheap = await gateway.post({ query, variables: { n: 5, k: 3 } });
      expect(cheap.status).toBe(200);
      expect(Number(cheap.headers['x-query-cost'])).toBeLessThan(5_000);
      const costly = await gateway.post({ query, variables: { n: 100, k: 20 } });
      expect(costly.status).toBe(200);
      expect(codes(costly.body)).toEqual(['QUERY_TOO_COMPLEX']);
      expect(costly.body.data).toBeUndefined();
    });

    it('prices a document sent again by the variables that change its cost: page sizes, series ranges and directives', async () => {
      const query = `query Mixed($from: Date, $to: Date, $top: Int!, $withTrend: Boolean!, $seriesFrom: Date!, $seriesTo: Date!) {
        dashboard(from: $from, to: $to) { topProducts(limit: $top) { revenue } recentTrend(days: 3) @include(if: $withTrend) { date } }
        revenue(from: $seriesFrom, to: $seriesTo) { points { date } }
      }`;
      const january = {
        from: '2024-01-01',
        to: '2024-01-31',
        top: 5,
        withTrend: true,
        seriesFrom: '2024-01-01',
        seriesTo: '2024-01-10',
      };
      // dashboard 1 + topProducts (1 + top × 1) + recentTrend (1 + 3 × 1) when included; revenue 1 + points (1 + days × 1).
      const costOf = (v: { top: number; withTrend: boolean }, days: number) =>
        1 + (1 + v.top) + (v.withTrend ? 1 + 3 : 0) + 1 + (1 + days);
      const cases = [
        { variables: january, days: 10 },
        { variables: { ...january, from: '2024-02-01', to: '2024-02-29' }, days: 10 },
        { variables: { ...january, top: 20 }, days: 10 },
        { variables: { ...january, withTrend: false }, days: 10 },
        { variables: { ...january, seriesTo: '2024-01-31' }, days: 31 },
        { variables: { ...january, from: null, to: null }, days: 10 },
      ];
      // Twice over, in another order the second time: every price is worked out once and then remembered.
      for (const { variables, days } of [...cases, ...cases.reverse()]) {
        const { status, headers, body } = await gateway.post({ query, variables });
        expect(body.errors, JSON.stringify(variables)).toBeUndefined();
        expect(status).toBe(200);
        expect(headers['x-query-cost'], JSON.stringify(variables)).toBe(String(costOf(variables, days)));
      }
    });

    it('reports the cost of each answered request', async () => {
      const { status, headers, body } = await gateway.post({
        query: '{ customers(first: 10) { edges { node { name } } } }',
      });
      expect(status).toBe(200);
      // customers 1 + 10 × (edges 1 + node 1 + name 1)
      expect(body.extensions?.cost).toEqual({ requested: 31, maximum: 5_000 });
      expect(headers['x-query-cost']).toBe('31');
    });
  });

  describe('HTTP rules', () => {
    it('answers a 2 MB body with 413 and a code', async () => {
      const response = await gateway.app.inject({
        method: 'POST',
        url: '/graphql',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ query: `{ __typename }`, variables: { padding: 'x'.repeat(2 * 1024 * 1024) } }),
      });
      expect(response.statusCode).toBe(413);
      expect(response.json()).toEqual({
        errors: [
          { message: expect.any(String), extensions: { code: 'PAYLOAD_TOO_LARGE', requestId: expect.any(String) } },
        ],
      });
    });

    it('refuses a batched array with 400 and a code', async () => {
      const response = await gateway.app.inject({
        method: 'POST',
        url: '/graphql',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]),
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().errors[0].extensions.code).toBe('BATCHING_NOT_SUPPORTED');
    });

    it('applies both before the cache-hit shortcut', async () => {
      const store = openStore('memory', uniquePrefix('limits'));
      const caching = await startCachedGateway(database.handle, store);
      try {
        const query = '{ dashboard { totalTransactions } }';
        await caching.post({ query });
        // The answer is stored in the background; wait until the next request is a hit.
        let cache: unknown;
        for (let tries = 0; tries < 50 && cache !== 'HIT'; tries++)
          cache = (await caching.post({ query })).headers['x-cache'];
        expect(cache).toBe('HIT');
        const batch = await caching.app.inject({
          method: 'POST',
          url: '/graphql',
          headers: { 'content-type': 'application/json' },
          payload: JSON.stringify([{ query }]),
        });
        expect(batch.statusCode).toBe(400);
        expect(batch.json().errors[0].extensions.code).toBe('BATCHING_NOT_SUPPORTED');
        const large = await caching.post({ query, variables: { padding: 'x'.repeat(200 * 1024) } });
        expect(large.status).toBe(413);
        expect(codes(large.body)).toEqual(['PAYLOAD_TOO_LARGE']);
      } finally {
        await caching.close();
        await store.close();
      }
    });
  });

  describe('production', () => {
    const introspection = '{ __schema { queryType { name } } }';

    it('refuses introspection', async () => {
      const { status, body } = await production.request(introspection);
      expect(status).toBe(200);
      expect(codes(body)).toEqual(['INTROSPECTION_DISABLED']);
      expect(body.data).toBeUndefined();
    });

    it('allows introspection with INTROSPECTION=true', async () => {
      const { status, body } = await productionIntrospection.request(introspection);
      expect(status).toBe(200);
      expect(body.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
    });

    it('hides field suggestions', async () => {
      const { status, body } = await production.request('{ dashboard { totalRevenu } }');
      expect(status).toBe(200);
      expect(codes(body)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      expect(body.errors?.[0]?.message).toBe('Cannot query field "totalRevenu" on type "Dashboard".');
    });

    it('keeps them in development', async () => {
      const { status, body } = await gateway.request('{ dashboard { totalRevenu } }');
      expect(status).toBe(200);
      expect(body.errors?.[0]?.message).toContain('Did you mean "totalRevenue"?');
    });
  });
});
