import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { toGlobalId } from '../../src/graphql/global-id.js';
import {
  CustomerOrderPageDocument,
  ProductOrderPageDocument,
  type CustomerOrder,
  type CustomerOrderField,
  type OrderDirection,
  type ProductOrder,
  type ProductOrderField,
} from '../generated/graphql.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { describeRoutes } from '../support/routes.js';

// A dataset built for ties: equal lifetime values, counts, purchase instants and names, customers with no
// completed transaction (NULL last purchase, some with pending/cancelled ones only) and products without
// sales. Ids mix 1, 4 and 10 digits so that comparing them (or money) as text would show.

const T0 = '2025-03-01T10:00:00.123456Z';
const T1 = '2025-03-02T08:30:00.500000Z';
// One microsecond after T1: a cursor that dropped microseconds would skip or repeat rows.
const T2 = '2025-03-02T08:30:00.500001Z';
const T3 = '2025-03-04T23:59:59.999999Z';

const CUSTOMER_NAMES = [
  'Acme',
  'acme',
  'Acme',
  'Beta Systems',
  'אלפא סחר',
  'אלפא סחר',
  'Zeta',
  'zeta',
  'Ωmega',
  'Beta Systems',
  'Delta',
];
const PRODUCT_NAMES = ['מחשב נייד', 'טלפון סלולרי', 'מחשב נייד', 'Cable', 'cable', 'Mouse'];
const LAPTOPS = 'מחשבים ניידים';
const PHONES = 'טלפונים';

const CUSTOMER_COUNT = 62;
const PRODUCT_COUNT = 24;
const SOLD_PRODUCTS = 20;

const customerIds = Array.from({ length: CUSTOMER_COUNT }, (_, i) =>
  String(i < 15 ? 2 + i * 3 : i < 40 ? 1_000 + i * 37 : 9_000_000_000 + i * 101),
);
const productIds = Array.from({ length: PRODUCT_COUNT }, (_, i) =>
  String(i < 8 ? 1 + i : i < 16 ? 10 + i * 7 : 100_000 + i),
);

interface Sale {
  status: 'completed' | 'pending' | 'cancelled';
  amount: string;
  quantity: number;
  at: string;
}

function salesOf(i: number): Sale[] {
  const done = (amount: string, at: string, quantity = 1): Sale => ({ status: 'completed', amount, quantity, at });
  switch (i % 7) {
    case 0:
      return [];
    case 1:
      // Big amounts that must not count: these customers have lifetime value 0.00 and no last purchase.
      return [
        { status: 'pending', amount: '500.00', quantity: 5, at: T3 },
        { status: 'cancelled', amount: '900.00', quantity: 9, at: T3 },
      ];
    case 2:
      return [done('50.00', T0), done('50.00', T1, 2)];
    case 3:
      return [done('100.00', T1, 2)];
    case 4:
      return [done('9.50', T2)];
    case 5:
      return [
        done('25.00', T0),
        done('25.00', T0),
        done('25.00', T0, 2),
        done('25.00', T3),
        { status: 'pending', amount: '1000.00', quantity: 1, at: T3 },
      ];
    default:
      return [
        done(((i * 735) / 100).toFixed(2), `2025-02-${String(1 + (i % 27)).padStart(2, '0')}T12:00:00Z`, 1 + (i % 3)),
      ];
  }
}

async function insertFixture(db: Kysely<Database>) {
  // Inserted in reverse id order so that the physical order says nothing about the expected order.
  await db
    .insertInto('customers')
    .values(
      customerIds
        .map((id, i) => ({
          id,
          name: CUSTOMER_NAMES[i % CUSTOMER_NAMES.length]!,
          email: null,
          city: null,
          created_at: '2024-01-01T00:00:00Z',
        }))
        .reverse(),
    )
    .execute();
  await db
    .insertInto('products')
    .values(
      productIds
        .map((id, i) => ({
          id,
          sku: `SKU-${id}`,
          name: PRODUCT_NAMES[i % PRODUCT_NAMES.length]!,
          category: i % 3 === 0 ? PHONES : LAPTOPS,
          unit_price: '10.00',
        }))
        .reverse(),
    )
    .execute();
  let transactionId = 1;
  const transactions = customerIds.flatMap((customerId, i) =>
    salesOf(i).map((sale, k) => ({
      id: transactionId++,
      customer_id: customerId,
      product_id: productIds[(i * 3 + k) % SOLD_PRODUCTS]!,
      quantity: sale.quantity,
      amount: sale.amount,
      status: sale.status,
      transaction_date: sale.at,
    })),
  );
  await db.insertInto('transactions').values(transactions).execute();
}

// Expected orders come from plain SQL over the base tables (not the reporting views).

const CUSTOMER_SORT: Record<CustomerOrderField, string> = {
  LIFETIME_VALUE: 'coalesce(s.lifetime_value, 0)',
  TRANSACTION_COUNT: 'coalesce(s.completed_count, 0)',
  LAST_PURCHASE_AT: 's.last_purchase_at',
  NAME: 'c.name',
};

async function expectedCustomers(db: Kysely<Database>, order: CustomerOrder, search?: string): Promise<string[]> {
  const { rows } = await sql<{ id: string; name: string }>`
    SELECT c.id::text AS id, c.name
    FROM customers c
    LEFT JOIN (
      SELECT customer_id, sum(amount) AS lifetime_value, count(*) AS completed_count, max(transaction_date) AS last_purchase_at
      FROM transactions
      WHERE status = 'completed'
      GROUP BY customer_id
    ) s ON s.customer_id = c.id
    ORDER BY ${sql.raw(CUSTOMER_SORT[order.field])} ${sql.raw(order.direction)} NULLS LAST, c.id ASC`.execute(db);
  const needle = search?.toLowerCase();
  return rows
    .filter((row) => needle === undefined || row.name.toLowerCase().includes(needle))
    .map((row) => toGlobalId('Customer', row.id));
}

const PRODUCT_SORT: Record<ProductOrderField, string> = {
  REVENUE: 'coalesce(s.revenue, 0)',
  UNITS_SOLD: 'coalesce(s.units_sold, 0)',
  NAME: 'p.name',
};

async function expectedProducts(db: Kysely<Database>, order: ProductOrder, category?: string): Promise<string[]> {
  const { rows } = await sql<{ id: string; category: string }>`
    SELECT p.id::text AS id, p.category
    FROM products p
    LEFT JOIN (
      SELECT product_id, sum(amount) AS revenue, sum(quantity) AS units_sold
      FROM transactions
      WHERE status = 'completed'
      GROUP BY product_id
    ) s ON s.product_id = p.id
    ORDER BY ${sql.raw(PRODUCT_SORT[order.field])} ${sql.raw(order.direction)} NULLS LAST, p.id ASC`.execute(db);
  return rows
    .filter((row) => category === undefined || row.category === category)
    .map((row) => toGlobalId('Product', row.id));
}

// The walks, shared by both connections.

interface Page {
  totalCount: number;
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
  edges: { cursor: string; node: { id: string } }[];
}

type Fetch = (window: { first?: number; after?: string; last?: number; before?: string }) => Promise<Page>;

const MAX_PAGES = 100;

/** Pages forward with first/after to the end, checking each page's pageInfo on the way. */
async function walkForward(fetch: Fetch, size: number, total: number): Promise<string[]> {
  const ids: string[] = [];
  let after: string | undefined;
  for (let index = 0; index < MAX_PAGES; index++) {
    const page = await fetch({ first: size, ...(after === undefined ? {} : { after }) });
    const isLast = ids.length + page.edges.length === total;
    expect(page.totalCount).toBe(total);
    expect(page.edges).toHaveLength(isLast ? total - ids.length : size);
    expect(page.pageInfo).toEqual({
      hasNextPage: !isLast,
      hasPreviousPage: index > 0,
      startCursor: page.edges[0]?.cursor ?? null,
      endCursor: page.edges.at(-1)?.cursor ?? null,
    });
    ids.push(...page.edges.map((edge) => edge.node.id));
    if (!page.pageInfo.hasNextPage) return ids;
    after = page.pageInfo.endCursor!;
  }
  throw new Error(`no last page after ${MAX_PAGES} pages`);
}

/** Pages backward with last/before from the end to the start; returns the rows in natural order. */
async function walkBackward(fetch: Fetch, size: number, total: number): Promise<string[]> {
  const ids: string[] = [];
  let before: string | undefined;
  for (let index = 0; index < MAX_PAGES; index++) {
    const page = await fetch({ last: size, ...(before === undefined ? {} : { before }) });
    const isFirst = ids.length + page.edges.length === total;
    expect(page.totalCount).toBe(total);
    expect(page.edges).toHaveLength(isFirst ? total - ids.length : size);
    expect(page.pageInfo).toEqual({
      hasNextPage: index > 0,
      hasPreviousPage: !isFirst,
      startCursor: page.edges[0]?.cursor ?? null,
      endCursor: page.edges.at(-1)?.cursor ?? null,
    });
    ids.unshift(...page.edges.map((edge) => edge.node.id));
    if (!page.pageInfo.hasPreviousPage) return ids;
    before = page.pageInfo.startCursor!;
  }
  throw new Error(`no first page after ${MAX_PAGES} pages`);
}

const DIRECTIONS: OrderDirection[] = ['ASC', 'DESC'];
const CUSTOMER_FIELDS: CustomerOrderField[] = ['LIFETIME_VALUE', 'TRANSACTION_COUNT', 'LAST_PURCHASE_AT', 'NAME'];
const PRODUCT_FIELDS: ProductOrderField[] = ['REVENUE', 'UNITS_SOLD', 'NAME'];

const customerOrders: { label: string; orderBy?: CustomerOrder; expected: CustomerOrder }[] = [
  { label: 'the default order (LIFETIME_VALUE DESC)', expected: { field: 'LIFETIME_VALUE', direction: 'DESC' } },
  ...CUSTOMER_FIELDS.flatMap((field) =>
    DIRECTIONS.map((direction) => ({
      label: `${field} ${direction}`,
      orderBy: { field, direction },
      expected: { field, direction },
    })),
  ),
];

const productOrders: { label: string; orderBy?: ProductOrder; expected: ProductOrder }[] = [
  { label: 'the default order (REVENUE DESC)', expected: { field: 'REVENUE', direction: 'DESC' } },
  ...PRODUCT_FIELDS.flatMap((field) =>
    DIRECTIONS.map((direction) => ({
      label: `${field} ${direction}`,
      orderBy: { field, direction },
      expected: { field, direction },
    })),
  ),
];

let database: TestDatabase;
let gateway: TestGateway;
let db: Kysely<Database>;

beforeAll(async () => {
  database = await createTestDatabase();
  db = database.handle.db;
  await insertFixture(db);
});

afterAll(async () => {
  await database?.drop();
});

function customerPages(orderBy?: CustomerOrder, search?: string): Fetch {
  return async (window) => {
    const { status, body } = await gateway.request(CustomerOrderPageDocument, { ...window, orderBy, search });
    expect(body.errors).toBeUndefined();
    expect(status).toBe(200);
    return body.data!.customers!;
  };
}

function productPages(orderBy?: ProductOrder, category?: string): Fetch {
  return async (window) => {
    const { status, body } = await gateway.request(ProductOrderPageDocument, { ...window, orderBy, category });
    expect(body.errors).toBeUndefined();
    expect(status).toBe(200);
    return body.data!.products;
  };
}

describe('the fixture', () => {
  it('has ties in every customer and product ordering, and customers without a purchase', async () => {
    const { rows } = await sql<Record<string, number>>`
      WITH c AS (
        SELECT c.id, c.name, coalesce(sum(t.amount), 0) AS lv, count(t.id) AS n, max(t.transaction_date) AS last
        FROM customers c LEFT JOIN transactions t ON t.customer_id = c.id AND t.status = 'completed'
        GROUP BY c.id
      ), p AS (
        SELECT p.id, p.name, coalesce(sum(t.amount), 0) AS revenue, coalesce(sum(t.quantity), 0) AS units
        FROM products p LEFT JOIN transactions t ON t.product_id = p.id AND t.status = 'completed'
        GROUP BY p.id
      )
      SELECT (SELECT count(*) - count(DISTINCT lv) FROM c)::int AS lv_ties,
             (SELECT count(*) - count(DISTINCT n) FROM c)::int AS count_ties,
             (SELECT count(last) - count(DISTINCT last) FROM c)::int AS last_ties,
             (SELECT count(*) - count(last) FROM c)::int AS never_bought,
             (SELECT count(*) - count(DISTINCT name) FROM c)::int AS name_ties,
             (SELECT count(*) FILTER (WHERE revenue > 0) - count(DISTINCT revenue) FILTER (WHERE revenue > 0) FROM p)::int AS revenue_ties,
             (SELECT count(*) FILTER (WHERE units > 0) - count(DISTINCT units) FILTER (WHERE units > 0) FROM p)::int AS units_ties,
             (SELECT count(*) FILTER (WHERE revenue = 0) FROM p)::int AS unsold,
             (SELECT count(*) - count(DISTINCT name) FROM p)::int AS product_name_ties`.execute(db);
    for (const [measure, ties] of Object.entries(rows[0]!)) {
      expect(ties, measure).toBeGreaterThanOrEqual(2);
    }
  });
});

// The walks run with the gateway connected directly and through PgBouncer in transaction mode: cursors carry
// sort values as PostgreSQL prints them, whatever session prints them.
describeRoutes((route) => {
  beforeAll(async () => {
    gateway = await startTestGateway(await route.open(database));
  });

  afterAll(async () => {
    await gateway?.close();
  });

  describe('customers connection', () => {
    describe.each(customerOrders)('ordered by $label', ({ orderBy, expected }) => {
      it('walks forward with first/after through every customer exactly once, in SQL order', async () => {
        const want = await expectedCustomers(db, expected);
        expect(await walkForward(customerPages(orderBy), 7, want.length)).toEqual(want);
      });

      it('walks backward with last/before through every customer exactly once, in SQL order', async () => {
        const want = await expectedCustomers(db, expected);
        expect(await walkBackward(customerPages(orderBy), 7, want.length)).toEqual(want);
      });
    });

    it('ends a forward walk cleanly when the last page is exactly full', async () => {
      const want = await expectedCustomers(db, { field: 'LIFETIME_VALUE', direction: 'DESC' });
      expect(want.length % 31).toBe(0);
      expect(await walkForward(customerPages(), 31, want.length)).toEqual(want);
      expect(await walkBackward(customerPages(), 31, want.length)).toEqual(want);
    });

    it('resumes right after an edge cursor taken from the middle of a page', async () => {
      const orderBy: CustomerOrder = { field: 'LAST_PURCHASE_AT', direction: 'ASC' };
      const want = await expectedCustomers(db, orderBy);
      const fetch = customerPages(orderBy);
      const first = await fetch({ first: 10 });
      const forward = await fetch({ first: 5, after: first.edges[3]!.cursor });
      expect(forward.edges.map((edge) => edge.node.id)).toEqual(want.slice(4, 9));
      const backward = await fetch({ last: 3, before: first.edges[3]!.cursor });
      expect(backward.edges.map((edge) => edge.node.id)).toEqual(want.slice(0, 3));
      expect(backward.pageInfo).toMatchObject({ hasPreviousPage: false, hasNextPage: true });
    });

    it('returns an empty last page after the final cursor', async () => {
      const fetch = customerPages({ field: 'NAME', direction: 'DESC' });
      const last = await fetch({ last: 1 });
      const beyond = await fetch({ first: 7, after: last.pageInfo.endCursor! });
      expect(beyond).toEqual({
        totalCount: CUSTOMER_COUNT,
        edges: [],
        pageInfo: { hasNextPage: false, hasPreviousPage: true, startCursor: null, endCursor: null },
      });
    });

    it('returns no edges for first: 0, with hasNextPage true and the full totalCount', async () => {
      const page = await customerPages()({ first: 0 });
      expect(page).toEqual({
        totalCount: CUSTOMER_COUNT,
        edges: [],
        pageInfo: { hasNextPage: true, hasPreviousPage: false, startCursor: null, endCursor: null },
      });
    });

    it('returns no edges for last: 0, with hasPreviousPage true', async () => {
      const page = await customerPages()({ last: 0 });
      expect(page).toEqual({
        totalCount: CUSTOMER_COUNT,
        edges: [],
        pageInfo: { hasNextPage: false, hasPreviousPage: true, startCursor: null, endCursor: null },
      });
    });

    it('reports no next page for first: 0 when nothing matches', async () => {
      const page = await customerPages(undefined, 'no such customer')({ first: 0 });
      expect(page).toEqual({
        totalCount: 0,
        edges: [],
        pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null },
      });
    });

    it('returns 20 edges when neither first nor last is given', async () => {
      const want = await expectedCustomers(db, { field: 'LIFETIME_VALUE', direction: 'DESC' });
      const fetch = customerPages();
      const page = await fetch({});
      expect(page.edges.map((edge) => edge.node.id)).toEqual(want.slice(0, 20));
      expect(page.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });

      const next = await fetch({ after: page.pageInfo.endCursor! });
      expect(next.edges.map((edge) => edge.node.id)).toEqual(want.slice(20, 40));

      const previous = await fetch({ before: next.edges[10]!.cursor });
      expect(previous.edges.map((edge) => edge.node.id)).toEqual(want.slice(10, 30));
    });

    describe.each<{ search: string; orderBy: CustomerOrder | undefined; expected: CustomerOrder }>([
      { search: 'acme', orderBy: undefined, expected: { field: 'LIFETIME_VALUE', direction: 'DESC' } },
      { search: 'ZETA', orderBy: { field: 'NAME', direction: 'ASC' }, expected: { field: 'NAME', direction: 'ASC' } },
      {
        search: 'פא ס',
        orderBy: { field: 'LAST_PURCHASE_AT', direction: 'DESC' },
        expected: { field: 'LAST_PURCHASE_AT', direction: 'DESC' },
      },
    ])('searching "$search"', ({ search, orderBy, expected }) => {
      it('pages forward and backward over the matching customers only', async () => {
        const want = await expectedCustomers(db, expected, search);
        expect(want.length).toBeGreaterThan(8);
        expect(want.length).toBeLessThan(CUSTOMER_COUNT);
        expect(await walkForward(customerPages(orderBy, search), 4, want.length)).toEqual(want);
        expect(await walkBackward(customerPages(orderBy, search), 4, want.length)).toEqual(want);
      });
    });

    it('returns BAD_USER_INPUT for a cursor from another ordering', async () => {
      const cursor = (await customerPages()({ first: 3 })).pageInfo.endCursor!;
      const others: CustomerOrder[] = [
        { field: 'NAME', direction: 'DESC' },
        { field: 'LIFETIME_VALUE', direction: 'ASC' },
        { field: 'TRANSACTION_COUNT', direction: 'DESC' },
      ];
      for (const orderBy of others) {
        for (const window of [
          { first: 3, after: cursor },
          { last: 3, before: cursor },
        ]) {
          const { status, body } = await gateway.request(CustomerOrderPageDocument, { ...window, orderBy });
          expect(status).toBe(200);
          expect(body.data).toEqual({ customers: null });
          expect(body.errors).toHaveLength(1);
          expect(body.errors![0]!.extensions?.code).toBe('BAD_USER_INPUT');
          expect(body.errors![0]!.message).toContain('after' in window ? '"after"' : '"before"');
        }
      }
    });
  });

  describe('products connection', () => {
    describe.each(productOrders)('ordered by $label', ({ orderBy, expected }) => {
      it('walks forward with first/after through every product exactly once, in SQL order', async () => {
        const want = await expectedProducts(db, expected);
        expect(await walkForward(productPages(orderBy), 5, want.length)).toEqual(want);
      });

      it('walks backward with last/before through every product exactly once, in SQL order', async () => {
        const want = await expectedProducts(db, expected);
        expect(await walkBackward(productPages(orderBy), 5, want.length)).toEqual(want);
      });

      it.each([LAPTOPS, PHONES])('walks both ways within category %s', async (category) => {
        const want = await expectedProducts(db, expected, category);
        expect(want.length).toBeGreaterThan(3);
        expect(await walkForward(productPages(orderBy, category), 3, want.length)).toEqual(want);
        expect(await walkBackward(productPages(orderBy, category), 3, want.length)).toEqual(want);
      });
    });

    it('returns no edges for first: 0, with hasNextPage true and the full totalCount', async () => {
      const page = await productPages()({ first: 0 });
      expect(page).toEqual({
        totalCount: PRODUCT_COUNT,
        edges: [],
        pageInfo: { hasNextPage: true, hasPreviousPage: false, startCursor: null, endCursor: null },
      });
    });

    it('returns 20 edges when neither first nor last is given', async () => {
      const want = await expectedProducts(db, { field: 'REVENUE', direction: 'DESC' });
      const page = await productPages()({});
      expect(page.edges.map((edge) => edge.node.id)).toEqual(want.slice(0, 20));
      expect(page.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    });

    it('returns BAD_USER_INPUT for a cursor from another ordering', async () => {
      const cursor = (await productPages({ field: 'UNITS_SOLD', direction: 'ASC' })({ first: 2 })).pageInfo.endCursor!;
      for (const orderBy of [
        undefined,
        { field: 'UNITS_SOLD', direction: 'DESC' },
        { field: 'NAME', direction: 'ASC' },
      ] as const) {
        const { status, body } = await gateway.request(ProductOrderPageDocument, { first: 2, after: cursor, orderBy });
        expect(status).toBe(200);
        expect(body.errors?.map((error) => error.extensions?.code)).toEqual(['BAD_USER_INPUT']);
        expect(body.errors![0]!.message).toContain('"after"');
      }
    });
  });
});
