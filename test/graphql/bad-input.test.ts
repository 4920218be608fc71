import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { toGlobalId } from '../../src/graphql/global-id.js';
import {
  CustomerDocument,
  CustomerOrderPageDocument,
  NodeDocument,
  ProductDocument,
  ProductOrderPageDocument,
} from '../generated/graphql.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway, type GraphQLResponse, type TestGateway } from '../support/gateway.js';

// Every argument problem is BAD_USER_INPUT with a message that names the argument, whether the value came
// inline or through a variable, and none of them is an HTTP 5xx. Search text is data, never SQL or a pattern.

const CUSTOMER_NAMES: Record<number, string> = {
  1: "' OR '1'='1",
  2: '100% Pure Ltd',
  3: 'snake_case Ltd',
  4: 'acme trading',
  5: 'Acme Corp',
  6: 'מחשבי הצפון',
  7: 'מחשבים בע״מ',
  8: 'צפון טכנולוגיות',
  9: 'Plain Customer',
  10: "O'Brien & Sons",
  11: '50 percent off',
  12: 'a%b_c',
  13: 'Underscore-free',
};

let database: TestDatabase;
let gateway: TestGateway;
let db: Kysely<Database>;

interface TableDigest {
  customers: number;
  products: number;
  transactions: number;
  digest: string;
}

async function digestTables(): Promise<TableDigest> {
  const { rows } = await sql<TableDigest>`
    SELECT (SELECT count(*) FROM customers)::int AS customers,
           (SELECT count(*) FROM products)::int AS products,
           (SELECT count(*) FROM transactions)::int AS transactions,
           md5(concat_ws('|',
             (SELECT string_agg(c::text, ',' ORDER BY c.id) FROM customers c),
             (SELECT string_agg(p::text, ',' ORDER BY p.id) FROM products p),
             (SELECT string_agg(t::text, ',' ORDER BY t.id) FROM transactions t))) AS digest`.execute(db);
  return rows[0]!;
}

let before: TableDigest;
let customerCursor: string;
let productCursor: string;

beforeAll(async () => {
  database = await createTestDatabase();
  db = database.handle.db;
  await db
    .insertInto('customers')
    .values(Object.entries(CUSTOMER_NAMES).map(([id, name]) => ({ id, name, created_at: '2024-01-01T00:00:00Z' })))
    .execute();
  await db
    .insertInto('products')
    .values([
      { id: 1, sku: 'LAP-1', name: 'מחשב נייד', category: 'מחשבים ניידים', unit_price: '3500.00' },
      { id: 2, sku: 'PHN-1', name: 'טלפון סלולרי', category: 'טלפונים', unit_price: '2200.00' },
    ])
    .execute();
  await db
    .insertInto('transactions')
    .values(
      Object.keys(CUSTOMER_NAMES).map((id, k) => ({
        id: k + 1,
        customer_id: id,
        product_id: 1 + (k % 2),
        quantity: 1,
        amount: k % 2 ? '2200.00' : '3500.00',
        status: k % 5 === 4 ? ('pending' as const) : ('completed' as const),
        transaction_date: `2025-01-${String(10 + k).padStart(2, '0')}T12:00:00Z`,
      })),
    )
    .execute();
  before = await digestTables();
  gateway = await startTestGateway(database.handle);

  const customers = await gateway.request(CustomerOrderPageDocument, { first: 3 });
  customerCursor = customers.body.data!.customers!.pageInfo.endCursor!;
  const products = await gateway.request(ProductOrderPageDocument, { first: 1 });
  productCursor = products.body.data!.products.pageInfo.endCursor!;
});

afterAll(async () => {
  await gateway?.close();
  await database?.drop();
});

/** Flips one character in the signed payload of a cursor (the part before the dot). */
function tamper(cursor: string): string {
  const index = 5;
  const flipped = cursor[index] === 'A' ? 'B' : 'A';
  return `${cursor.slice(0, index)}${flipped}${cursor.slice(index + 1)}`;
}

async function expectBadInput(
  response: { status: number; body: GraphQLResponse<unknown> },
  ...argumentNames: string[]
) {
  const { status, body } = response;
  expect([200, 400]).toContain(status);
  expect(body.errors?.length, JSON.stringify(body)).toBeGreaterThan(0);
  for (const error of body.errors!) {
    expect(error.extensions?.code, error.message).toBe('BAD_USER_INPUT');
    for (const name of argumentNames) expect(error.message).toMatch(new RegExp(`\\b${name}\\b`));
    expect(error.message).not.toMatch(/internal server error|select |postgres|\bat .*\.ts/i);
  }
}

type Lazy<T> = T | (() => T);

interface Case {
  label: string;
  /** Lazy where the value needs a cursor that the gateway only issues in beforeAll. */
  query: Lazy<string>;
  variables?: Lazy<Record<string, unknown>>;
  argument: string | string[];
}

const resolve = <T>(value: Lazy<T>): T => (typeof value === 'function' ? (value as () => T)() : value);

const CUSTOMERS_VARS = `query ($first: Int, $after: String, $last: Int, $before: String, $orderBy: CustomerOrder, $search: String) {
  customers(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy, search: $search) { totalCount edges { node { id } } }
}`;
const PRODUCTS_VARS = `query ($first: Int, $orderBy: ProductOrder, $limit: Int) {
  products(first: $first, orderBy: $orderBy) { edges { node { id topCustomers(limit: $limit) { id } } } }
}`;
const DASHBOARD_VARS = `query ($from: Date, $to: Date, $limit: Int, $days: Int) {
  dashboard(from: $from, to: $to) { totalRevenue topProducts(limit: $limit) { revenue } recentTrend(days: $days) { date } }
}`;
const NODE_VARS = 'query ($id: ID!) { node(id: $id) { id } }';
const CUSTOMER_VARS = 'query ($id: ID!) { customer(id: $id) { id } }';
const PRODUCT_VARS = 'query ($id: ID!) { product(id: $id) { id } }';
const REVENUE_VARS = `query ($from: Date, $to: Date) { revenue(from: $from, to: $to) { totalRevenue points { date } } }`;

const paginationCases: Case[] = [
  { label: 'first: -1 inline', query: '{ customers(first: -1) { totalCount } }', argument: 'first' },
  { label: 'first: -1 as a variable', query: CUSTOMERS_VARS, variables: { first: -1 }, argument: 'first' },
  { label: 'first: 101 inline', query: '{ customers(first: 101) { totalCount } }', argument: 'first' },
  { label: 'first: 101 as a variable', query: CUSTOMERS_VARS, variables: { first: 101 }, argument: 'first' },
  { label: 'last: 101 inline', query: '{ customers(last: 101) { totalCount } }', argument: 'last' },
  { label: 'last: 101 as a variable', query: CUSTOMERS_VARS, variables: { last: 101 }, argument: 'last' },
  { label: 'first: 101 on products', query: '{ products(first: 101) { totalCount } }', argument: 'first' },
  {
    label: 'first with last inline',
    query: '{ customers(first: 2, last: 2) { totalCount } }',
    argument: ['first', 'last'],
  },
  {
    label: 'first with last as variables',
    query: CUSTOMERS_VARS,
    variables: { first: 2, last: 2 },
    argument: ['first', 'last'],
  },
  {
    label: 'a garbage after cursor inline',
    query: '{ customers(first: 2, after: "garbage") { totalCount } }',
    argument: 'after',
  },
  {
    label: 'a garbage after cursor as a variable',
    query: CUSTOMERS_VARS,
    variables: { first: 2, after: 'not a cursor at all!' },
    argument: 'after',
  },
  { label: 'an empty after cursor', query: CUSTOMERS_VARS, variables: { first: 2, after: '' }, argument: 'after' },
  {
    label: 'a garbage before cursor',
    query: CUSTOMERS_VARS,
    variables: { last: 2, before: 'eyJzIjoiIn0.AAAA' },
    argument: 'before',
  },
  {
    label: 'a tampered after cursor inline',
    query: () => `{ customers(first: 2, after: "${tamper(customerCursor)}") { totalCount } }`,
    argument: 'after',
  },
  {
    label: 'a tampered before cursor as a variable',
    query: CUSTOMERS_VARS,
    variables: () => ({ last: 2, before: tamper(customerCursor) }),
    argument: 'before',
  },
  {
    label: 'a cursor with its signature cut off',
    query: CUSTOMERS_VARS,
    variables: () => ({ first: 2, after: customerCursor.split('.')[0] }),
    argument: 'after',
  },
  {
    label: 'a products cursor on customers',
    query: CUSTOMERS_VARS,
    variables: () => ({ first: 2, after: productCursor }),
    argument: 'after',
  },
  {
    label: 'a customers cursor on products',
    query: () => `{ products(first: 2, after: "${customerCursor}") { totalCount } }`,
    argument: 'after',
  },
];

const malformedIds = [
  'abc!',
  'not an id',
  '',
  'Q3VzdG9tZXI6',
  toGlobalId('Customer', '1').slice(0, -1),
  Buffer.from('Order:1').toString('base64url'),
  Buffer.from('Customer:0').toString('base64url'),
  Buffer.from('Customer:1 OR 1=1').toString('base64url'),
];

const idCases: Case[] = [
  ...malformedIds.flatMap((id): Case[] => [
    {
      label: `a malformed id ${JSON.stringify(id)} for node (variable)`,
      query: NODE_VARS,
      variables: { id },
      argument: 'id',
    },
    {
      label: `a malformed id ${JSON.stringify(id)} for customer (inline)`,
      query: `{ customer(id: ${JSON.stringify(id)}) { id } }`,
      argument: 'id',
    },
    {
      label: `a malformed id ${JSON.stringify(id)} for product (variable)`,
      query: PRODUCT_VARS,
      variables: { id },
      argument: 'id',
    },
  ]),
  {
    label: 'a Product id passed to customer(id:)',
    query: `{ customer(id: "${toGlobalId('Product', '1')}") { id } }`,
    argument: 'id',
  },
  {
    label: 'a Product id passed to customer(id:) as a variable',
    query: CUSTOMER_VARS,
    variables: { id: toGlobalId('Product', '1') },
    argument: 'id',
  },
  {
    label: 'a Customer id passed to product(id:)',
    query: PRODUCT_VARS,
    variables: { id: toGlobalId('Customer', '1') },
    argument: 'id',
  },
];

const rangeCases: Case[] = [
  {
    label: 'from after to on dashboard inline',
    query: '{ dashboard(from: "2025-02-01", to: "2025-01-31") { totalRevenue } }',
    argument: 'from',
  },
  {
    label: 'from after to on dashboard as variables',
    query: DASHBOARD_VARS,
    variables: { from: '2025-02-01', to: '2025-01-31' },
    argument: 'from',
  },
  {
    label: 'from after to on revenue inline',
    query: '{ revenue(from: "2025-02-01", to: "2025-01-31") { totalRevenue } }',
    argument: 'from',
  },
  {
    label: 'from after to on revenue as variables',
    query: REVENUE_VARS,
    variables: { from: '2025-02-01', to: '2025-01-31' },
    argument: 'from',
  },
  {
    label: '2025-02-30 as a dashboard literal',
    query: '{ dashboard(from: "2025-02-30") { totalRevenue } }',
    argument: 'from',
  },
  {
    label: '2025-02-30 as a dashboard variable',
    query: DASHBOARD_VARS,
    variables: { from: '2025-02-30' },
    argument: 'from',
  },
  { label: '2025-02-30 as a revenue literal', query: '{ revenue(to: "2025-02-30") { totalRevenue } }', argument: 'to' },
  { label: '2025-02-30 as a revenue variable', query: REVENUE_VARS, variables: { to: '2025-02-30' }, argument: 'to' },
  { label: 'a non-ISO date literal', query: '{ revenue(from: "01/02/2025") { totalRevenue } }', argument: 'from' },
  { label: 'recentTrend(days: 0) inline', query: '{ dashboard { recentTrend(days: 0) { date } } }', argument: 'days' },
  {
    label: 'recentTrend(days: 367) inline',
    query: '{ dashboard { recentTrend(days: 367) { date } } }',
    argument: 'days',
  },
  { label: 'recentTrend days: 0 as a variable', query: DASHBOARD_VARS, variables: { days: 0 }, argument: 'days' },
  { label: 'recentTrend days: 367 as a variable', query: DASHBOARD_VARS, variables: { days: 367 }, argument: 'days' },
  {
    label: 'topProducts(limit: 0) inline',
    query: '{ dashboard { topProducts(limit: 0) { revenue } } }',
    argument: 'limit',
  },
  {
    label: 'topProducts(limit: 51) inline',
    query: '{ dashboard { topProducts(limit: 51) { revenue } } }',
    argument: 'limit',
  },
  { label: 'topProducts limit: 0 as a variable', query: DASHBOARD_VARS, variables: { limit: 0 }, argument: 'limit' },
  { label: 'topProducts limit: 51 as a variable', query: DASHBOARD_VARS, variables: { limit: 51 }, argument: 'limit' },
  {
    label: 'topCustomers(limit: 21) inline',
    query: '{ products(first: 2) { edges { node { topCustomers(limit: 21) { id } } } } }',
    argument: 'limit',
  },
  {
    label: 'topCustomers limit: 21 as a variable',
    query: PRODUCTS_VARS,
    variables: { first: 2, limit: 21 },
    argument: 'limit',
  },
  {
    label: 'topCustomers limit: 0 as a variable',
    query: PRODUCTS_VARS,
    variables: { first: 2, limit: 0 },
    argument: 'limit',
  },
];

const enumAndTextCases: Case[] = [
  {
    label: 'an unknown orderBy field literal',
    query: '{ customers(orderBy: { field: BOGUS, direction: ASC }) { totalCount } }',
    argument: 'orderBy',
  },
  {
    label: 'an unknown orderBy direction literal',
    query: '{ customers(orderBy: { field: NAME, direction: SIDEWAYS }) { totalCount } }',
    argument: 'orderBy',
  },
  {
    label: 'an unknown products orderBy field literal',
    query: '{ products(orderBy: { field: PRICE, direction: ASC }) { totalCount } }',
    argument: 'orderBy',
  },
  {
    label: 'an unknown orderBy field variable',
    query: CUSTOMERS_VARS,
    variables: { orderBy: { field: 'BOGUS', direction: 'ASC' } },
    argument: 'orderBy',
  },
  {
    label: 'an unknown orderBy direction variable',
    query: CUSTOMERS_VARS,
    variables: { orderBy: { field: 'NAME', direction: 'sideways' } },
    argument: 'orderBy',
  },
  {
    label: 'an unknown products orderBy field variable',
    query: PRODUCTS_VARS,
    variables: { orderBy: { field: 'PRICE', direction: 'DESC' } },
    argument: 'orderBy',
  },
  {
    label: 'a NUL character in search inline',
    query: '{ customers(search: "ac\\u0000me") { totalCount } }',
    argument: 'search',
  },
  {
    label: 'a NUL character in search as a variable',
    query: CUSTOMERS_VARS,
    variables: { search: 'ac\u0000me' },
    argument: 'search',
  },
];

describe.each([
  { group: 'pagination arguments', cases: paginationCases },
  { group: 'ids', cases: idCases },
  { group: 'ranges and limits', cases: rangeCases },
  { group: 'enums and text', cases: enumAndTextCases },
])('$group', ({ cases }) => {
  it.each(cases)(
    'returns BAD_USER_INPUT naming the argument, never a 5xx, for $label',
    async ({ query, variables, argument }) => {
      const response = await gateway.request<unknown, Record<string, unknown> | undefined>(
        resolve(query),
        variables && resolve(variables),
      );
      await expectBadInput(response, ...[argument].flat());
    },
  );
});

describe('focused error cases', () => {
  it('returns BAD_USER_INPUT for a tampered cursor', async () => {
    const response = await gateway.request(CustomerOrderPageDocument, { first: 2, after: tamper(customerCursor) });
    await expectBadInput(response, 'after');
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual({ customers: null });
  });

  it('returns BAD_USER_INPUT for a date that does not exist, sent as a variable (200 under application/json)', async () => {
    const response = await gateway.request(REVENUE_VARS, { from: '2025-02-30' });
    await expectBadInput(response, 'from');
    expect(response.status).toBe(200);
  });

  it('returns BAD_USER_INPUT naming the argument for an unknown enum literal', async () => {
    const response = await gateway.request('{ customers(orderBy: { field: BOGUS, direction: ASC }) { totalCount } }');
    await expectBadInput(response, 'orderBy');
    expect(response.body.errors![0]!.extensions?.argumentName).toBe('orderBy');
  });

  it('returns BAD_USER_INPUT for first together with last, naming both', async () => {
    const response = await gateway.request(CustomerOrderPageDocument, { first: 1, last: 1 });
    await expectBadInput(response, 'first', 'last');
  });
});

describe('unknown but well-formed ids', () => {
  it('resolve to null without an error', async () => {
    const unknownCustomer = toGlobalId('Customer', '999999');
    const unknownProduct = toGlobalId('Product', '999999');
    for (const [document, id, field] of [
      [CustomerDocument, unknownCustomer, 'customer'],
      [ProductDocument, unknownProduct, 'product'],
      [NodeDocument, unknownCustomer, 'node'],
      [NodeDocument, unknownProduct, 'node'],
    ] as const) {
      const { status, body } = await gateway.request<Record<string, unknown>, { id: string }>(document, { id });
      expect(status).toBe(200);
      expect(body.errors).toBeUndefined();
      expect(body.data).toEqual({ [field]: null });
    }
  });

  it('resolve known ids to their objects', async () => {
    const { body } = await gateway.request(NodeDocument, { id: toGlobalId('Customer', '12') });
    expect(body.data?.node).toEqual({ __typename: 'Customer', id: toGlobalId('Customer', '12'), name: 'a%b_c' });
  });
});

describe('search', () => {
  async function searchInline(search: string) {
    const { status, body } = await gateway.request<
      { customers: { totalCount: number; edges: { node: { name: string } }[] } },
      undefined
    >(
      `{ customers(search: ${JSON.stringify(search)}, first: 100, orderBy: { field: NAME, direction: ASC }) { totalCount edges { node { name } } } }`,
    );
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    return body.data!.customers;
  }

  async function searchVariable(search: string) {
    const { status, body } = await gateway.request(CustomerOrderPageDocument, {
      search,
      first: 100,
      orderBy: { field: 'NAME', direction: 'ASC' },
    });
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    return body.data!.customers;
  }

  async function expectMatches(search: string, names: string[]) {
    // The expectation is spelled out, and also re-derived from the base table as a literal substring.
    const { rows } = await sql<{ name: string }>`SELECT name FROM customers ORDER BY name, id`.execute(db);
    expect(rows.map((row) => row.name).filter((name) => name.toLowerCase().includes(search.toLowerCase()))).toEqual(
      names,
    );
    for (const found of [await searchInline(search), await searchVariable(search)]) {
      expect(found!.edges.map((edge) => edge.node.name)).toEqual(names);
      expect(found!.totalCount).toBe(names.length);
    }
  }

  it("matches \"' OR '1'='1\" literally", async () => {
    await expectMatches("' OR '1'='1", ["' OR '1'='1"]);
  });

  it('matches "%" only in names that contain a percent sign', async () => {
    await expectMatches('%', ['100% Pure Ltd', 'a%b_c']);
  });

  it('matches "_" only in names that contain an underscore', async () => {
    await expectMatches('_', ['a%b_c', 'snake_case Ltd']);
  });

  it('matches a backslash and quotes as plain characters', async () => {
    await expectMatches('\\', []);
    await expectMatches("O'B", ["O'Brien & Sons"]);
  });

  it('matches a Hebrew substring', async () => {
    await expectMatches('צפון', ['מחשבי הצפון', 'צפון טכנולוגיות']);
    await expectMatches('מחשב', ['מחשבי הצפון', 'מחשבים בע״מ']);
  });

  it('matches lowercase names with an uppercase ASCII search', async () => {
    await expectMatches('ACME', ['Acme Corp', 'acme trading']);
  });

  it('leaves the base tables intact after all of the above', async () => {
    expect(await digestTables()).toEqual(before);
    expect(before).toMatchObject({ customers: Object.keys(CUSTOMER_NAMES).length, products: 2 });
  });
});
