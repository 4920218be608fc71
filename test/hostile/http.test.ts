import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../support/database.js';
import type { GraphQLResponse } from '../support/gateway.js';
import {
  startGatewayWithCache,
  uniquePrefix,
  type CachedGateway,
  type GatewayWithCache,
} from '../support/gateway-with-cache.js';

// The HTTP surface under requests no well-behaved client sends. Every answer of the GraphQL route is a
// GraphQL response whose errors carry a code the client can act on, and never a 5xx.

const JSON_ACCEPT = 'application/json';
const GRAPHQL_RESPONSE = 'application/graphql-response+json';
const CLIENT_CODES = [
  'BAD_REQUEST',
  'BAD_USER_INPUT',
  'PERSISTED_QUERY_NOT_FOUND',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
];

let setup: GatewayWithCache;
let database: TestDatabase;
let gateway: CachedGateway;
let endpoint: string;

beforeAll(async () => {
  setup = await startGatewayWithCache({ store: 'memory', prefix: uniquePrefix('hostile-http') });
  ({ database, gateway } = setup);
  endpoint = `${await gateway.app.listen({ host: '127.0.0.1', port: 0 })}/graphql`;
});

afterAll(async () => {
  await setup?.close();
});

interface Sent {
  status: number;
  type: string;
  body: GraphQLResponse<unknown>;
}

async function send(init: RequestInit & { path?: string }): Promise<Sent> {
  const response = await fetch(`${endpoint}${init.path ?? ''}`, init);
  const text = await response.text();
  return {
    status: response.status,
    type: response.headers.get('content-type') ?? '',
    body: text ? (JSON.parse(text) as GraphQLResponse<unknown>) : {},
  };
}

const post = (body: string, headers: Record<string, string> = {}) =>
  send({ method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

describe('protocol errors', () => {
  const cases: [string, () => Promise<Sent>, number][] = [
    ['a body that is not JSON', () => post('{"query":'), 400],
    ['an empty body', () => post(''), 400],
    [
      'a content type nobody reads',
      () =>
        send({
          method: 'POST',
          headers: { 'content-type': 'application/xml', 'apollo-require-preflight': '1' },
          body: '<q/>',
        }),
      415,
    ],
    ['no query at all', () => post('{}'), 400],
    ['a query that is not a string', () => post('{"query":1}'), 400],
    ['variables that are an array', () => post(JSON.stringify({ query: '{ __typename }', variables: [] })), 400],
    ['extensions as a string', () => post(JSON.stringify({ query: '{ __typename }', extensions: '{}' })), 400],
    [
      'an operation name that is a number',
      () => post(JSON.stringify({ query: '{ __typename }', operationName: 3 })),
      400,
    ],
    [
      'a persisted-query hash that does not match its query',
      () =>
        post(
          JSON.stringify({
            query: '{ __typename }',
            extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } },
          }),
        ),
      400,
    ],
    [
      'a persisted-query version nobody knows',
      () =>
        post(
          JSON.stringify({
            query: '{ __typename }',
            extensions: { persistedQuery: { version: 2, sha256Hash: 'a'.repeat(64) } },
          }),
        ),
      400,
    ],
    [
      'a persisted query that is not an object',
      () => post(JSON.stringify({ query: '{ __typename }', extensions: { persistedQuery: 'yes' } })),
      400,
    ],
    [
      'a persisted-query hash that is not a SHA-256',
      () => post(JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: 'x'.repeat(50_000) } } })),
      400,
    ],
    [
      'a persisted-query hash that is not a string',
      () => post(JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: 42 } } })),
      400,
    ],
    [
      'a persisted-query hash over GET that is not a SHA-256',
      () =>
        send({
          path: `?${new URLSearchParams({ extensions: JSON.stringify({ persistedQuery: { version: 1, sha256Hash: 'nope' } }) }).toString()}`,
          headers: { 'apollo-require-preflight': '1' },
        }),
      400,
    ],
    [
      'an unknown persisted-query hash',
      () => post(JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: 'b'.repeat(64) } } })),
      200,
    ],
    [
      'a mutation over GET',
      () =>
        send({
          path: `?${new URLSearchParams({ query: 'mutation { __typename }' }).toString()}`,
          headers: { 'apollo-require-preflight': '1' },
        }),
      405,
    ],
    [
      'variables over GET that are not JSON',
      () => send({ path: '?query=%7B__typename%7D&variables=%7B', headers: { 'apollo-require-preflight': '1' } }),
      400,
    ],
    [
      'extensions over GET that are not JSON',
      () => send({ path: '?query=%7B__typename%7D&extensions=%7B', headers: { 'apollo-require-preflight': '1' } }),
      400,
    ],
    ['a PUT', () => send({ method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' }), 405],
    ['a DELETE', () => send({ method: 'DELETE' }), 405],
    [
      'an Accept nothing can satisfy',
      () => post(JSON.stringify({ query: '{ __typename }' }), { accept: 'text/csv' }),
      406,
    ],
  ];

  it.each(cases)('answers %s with a client code', async (_label, request, status) => {
    const answer = await request();
    expect(answer.status).toBe(status);
    expect(answer.type).toMatch(/^application\/json/);
    expect(answer.body.data ?? null).toBeNull();
    expect(answer.body.errors?.length).toBeGreaterThan(0);
    for (const error of answer.body.errors!) expect(CLIENT_CODES).toContain(error.extensions?.code);
  });

  it('says which methods the route serves', async () => {
    const response = await fetch(endpoint, { method: 'PATCH' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, POST');
  });
});

describe('refused documents', () => {
  // One document per reason a document is refused before it runs; each with the code it must carry.
  const refusals: [string, Record<string, unknown>, string][] = [
    ['a syntax error', { query: '{ dashboard { ' }, 'GRAPHQL_PARSE_FAILED'],
    ['an unknown field', { query: '{ dashboard { nope } }' }, 'GRAPHQL_VALIDATION_FAILED'],
    [
      'a variable of the wrong type',
      { query: 'query ($d: Int) { dashboard { recentTrend(days: $d) { date } } }', variables: { d: 'x' } },
      'BAD_USER_INPUT',
    ],
    ['a day that does not exist', { query: '{ dashboard(from: "2025-02-30") { totalRevenue } }' }, 'BAD_USER_INPUT'],
    [
      'an operation name the document lacks',
      { query: 'query A { __typename }', operationName: 'B' },
      'OPERATION_RESOLUTION_FAILURE',
    ],
    [
      'too deep',
      {
        query: `{ customers { edges { node { ${'favoriteProduct { topCustomers { '.repeat(5)} id ${'} } '.repeat(5)} } } } }`,
      },
      'QUERY_TOO_DEEP',
    ],
    [
      'too many aliases',
      { query: `{ ${Array.from({ length: 20 }, (_, i) => `a${i}: __typename`).join(' ')} }` },
      'TOO_MANY_ALIASES',
    ],
    ['too many tokens', { query: `{ ${'__typename '.repeat(2_500)} }` }, 'TOO_MANY_TOKENS'],
    ['too long', { query: `{ __typename } ${'#\n'.repeat(20_000)}` }, 'QUERY_TOO_LARGE'],
    ['too many directives', { query: `{ __typename ${'@include(if: true) '.repeat(60)} }` }, 'TOO_MANY_DIRECTIVES'],
    [
      'too costly',
      {
        query:
          '{ customers(first: 100) { edges { node { favoriteProduct { topCustomers(limit: 20) { favoriteProduct { topCustomers(limit: 20) { id } } } } } } } }',
      },
      'QUERY_TOO_COMPLEX',
    ],
  ];

  it.each(refusals)(
    'answers %s with 200 under application/json and 400 under application/graphql-response+json',
    async (_label, body, code) => {
      const asJson = await post(JSON.stringify(body), { accept: JSON_ACCEPT });
      expect(asJson.status).toBe(200);
      expect(asJson.type).toMatch(/^application\/json/);
      expect(asJson.body.errors?.map((error) => error.extensions?.code)).toContain(code);
      expect(asJson.body.data).toBeUndefined();
      const asGraphQLResponse = await post(JSON.stringify(body), { accept: GRAPHQL_RESPONSE });
      expect(asGraphQLResponse.status).toBe(400);
      expect(asGraphQLResponse.type).toMatch(/^application\/graphql-response\+json/);
      expect(asGraphQLResponse.body.errors?.map((error) => error.extensions?.code)).toContain(code);
      // Without an Accept header, a client gets application/json.
      expect((await post(JSON.stringify(body))).status).toBe(200);
    },
  );

  it('keeps 200 for errors met while running, and 4xx for requests that are not GraphQL at all', async () => {
    const ran = await post(JSON.stringify({ query: '{ customers(first: 101) { totalCount } }' }), {
      accept: GRAPHQL_RESPONSE,
    });
    expect(ran.status).toBe(200);
    expect(ran.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const batch = await post(JSON.stringify([{ query: '{ __typename }' }]), { accept: JSON_ACCEPT });
    expect(batch.status).toBe(400);
  });
});

describe('the audit trail', () => {
  const TRAIL = '{ auditTrail(first: 5) { totalCount edges { node { requestId customerIds } } } }';

  it('is never answered from the cache: each read sees the entries written since', async () => {
    const seen: { cache: string | null; totalCount: number }[] = [];
    for (let round = 0; round < 4; round++) {
      await sql`INSERT INTO audit_log (occurred_at, request_id, principal, role, customer_count, customer_ids)
                VALUES (now(), ${`hostile-${round}`}, 'anonymous', 'admin', 1, '{7}')`.execute(database.handle.db);
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: TRAIL }),
      });
      const body = (await response.json()) as { data: { auditTrail: { totalCount: number } } };
      seen.push({ cache: response.headers.get('x-cache'), totalCount: body.data.auditTrail.totalCount });
      // Time for the response cache to store the answer in the background, were it going to.
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(seen).toEqual([1, 2, 3, 4].map((totalCount) => ({ cache: 'MISS', totalCount })));
  });
});
