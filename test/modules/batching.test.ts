import {
  PostgresQueryCompiler,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromGlobalId, toGlobalId } from '../../src/graphql/global-id.js';
import {
  CustomerFavoriteNamesDocument,
  DashboardTopProductNamesDocument,
  DashboardWithComparisonDocument,
  ProductTopCustomerNamesDocument,
} from '../generated/graphql.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

// Nested fields load through per-request DataLoaders, so the statements a request runs do not depend on
// the page size. Statements are counted with the database's onQuery hook; a recording plugin on the same
// Kysely instance also keeps each statement's parameters, so the batches themselves can be checked.

const CUSTOMERS = 60;
const PRODUCTS = 60;

/** Records the compiled SQL and parameters of every statement while `recording` is on. */
class StatementRecorder implements KyselyPlugin {
  private readonly compiler = new PostgresQueryCompiler();
  recording = false;
  statements: { sql: string; parameters: readonly unknown[] }[] = [];

  transformQuery({ node, queryId }: PluginTransformQueryArgs): RootOperationNode {
    if (this.recording) {
      const { sql, parameters } = this.compiler.compileQuery(node, queryId);
      if (!/\baudit_log\b/.test(sql)) this.statements.push({ sql, parameters });
    }
    return node;
  }

  async transformResult({ result }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return result;
  }
}

let database: TestDatabase;
let gateway: TestGateway;
const recorder = new StatementRecorder();
let counting = false;
let counted: string[] = [];

/** Runs one request and returns what it ran: every statement (onQuery) and the recorded batches. */
async function run<T, V>(document: TypedDocumentNode<T, V>, variables: V) {
  counted = [];
  recorder.statements = [];
  counting = true;
  recorder.recording = true;
  try {
    const { status, body } = await gateway.request(document, variables);
    expect(body.errors).toBeUndefined();
    expect(status).toBe(200);
    return { data: body.data!, statements: counted, batches: recorder.statements };
  } finally {
    counting = false;
    recorder.recording = false;
  }
}

const dbIds = (ids: string[]) => ids.map((id) => fromGlobalId(id).id);
const distinct = <T>(values: T[]) => [...new Set(values)];

beforeAll(async () => {
  database = await createTestDatabase({
    // The audit trail of earlier requests is written in the background and may land during a later one (the
    // recorder leaves it out too).
    onQuery: (statement) => {
      if (counting && !/\baudit_log\b/.test(statement)) counted.push(statement);
    },
  });
  const { db } = database.handle;
  await db
    .insertInto('customers')
    .values(
      Array.from({ length: CUSTOMERS }, (_, i) => ({
        id: i + 1,
        name: `Customer ${i + 1}`,
        created_at: '2024-01-01T00:00:00Z',
      })),
    )
    .execute();
  await db
    .insertInto('products')
    .values(
      Array.from({ length: PRODUCTS }, (_, i) => ({
        id: i + 1,
        sku: `SKU-${i + 1}`,
        name: `Product ${i + 1}`,
        category: 'Cables',
        unit_price: '10.00',
      })),
    )
    .execute();
  // Every customer buys three products and every product sells, with revenues spread so the rankings differ.
  await db
    .insertInto('transactions')
    .values(
      Array.from({ length: CUSTOMERS * 3 }, (_, k) => {
        const customer = (k % CUSTOMERS) + 1;
        const product = ((customer * 7 + Math.floor(k / CUSTOMERS) * 13) % PRODUCTS) + 1;
        return {
          id: k + 1,
          customer_id: customer,
          product_id: product,
          quantity: 1 + (k % 4),
          amount: (10 + ((k * 37) % 500)).toFixed(2),
          status: 'completed' as const,
          transaction_date: `2025-01-${String(1 + (k % 28)).padStart(2, '0')}T10:00:00Z`,
        };
      }),
    )
    .execute();
  gateway = await startTestGateway({ ...database.handle, db: database.handle.db.withPlugin(recorder) });
});

afterAll(async () => {
  await gateway?.close();
  await database?.drop();
});

describe('customers with favoriteProduct', () => {
  it('runs the same number of statements for 5 and for 50 customers', async () => {
    const small = await run(CustomerFavoriteNamesDocument, { first: 5 });
    const large = await run(CustomerFavoriteNamesDocument, { first: 50 });
    expect(small.data.customers!.edges).toHaveLength(5);
    expect(large.data.customers!.edges).toHaveLength(50);
    expect(large.statements).toHaveLength(small.statements.length);
  });

  it('loads all favourites of a page in one statement, then their products in one more', async () => {
    const { data, statements, batches } = await run(CustomerFavoriteNamesDocument, { first: 50 });
    const pageIds = dbIds(data.customers!.edges.map((edge) => edge.node.id));
    const favouriteIds = dbIds(data.customers!.edges.map((edge) => edge.node.favoriteProduct!.id));

    // The page, its total count, one batch of favourites, one batch of products.
    expect(statements).toHaveLength(4);
    const favourites = batches.filter((batch) => batch.sql.includes('v_customer_favorite_product'));
    expect(favourites.map((batch) => batch.parameters)).toEqual([pageIds]);
    const products = batches.filter((batch) => batch.sql.includes('v_product_performance'));
    expect(products).toHaveLength(1);
    expect([...products[0]!.parameters].sort()).toEqual(distinct(favouriteIds).sort());
  });
});

describe('products with topCustomers', () => {
  it('runs the same number of statements for 5 and for 40 products', async () => {
    const small = await run(ProductTopCustomerNamesDocument, { first: 5 });
    const large = await run(ProductTopCustomerNamesDocument, { first: 40 });
    expect(small.data.products.edges).toHaveLength(5);
    expect(large.data.products.edges).toHaveLength(40);
    expect(large.statements).toHaveLength(small.statements.length);
  });

  it('ranks the top customers of a whole page in one statement, then loads them in one more', async () => {
    const { data, statements, batches } = await run(ProductTopCustomerNamesDocument, { first: 40, limit: 2 });
    const pageIds = dbIds(data.products.edges.map((edge) => edge.node.id));
    const customerIds = dbIds(
      data.products.edges.flatMap((edge) => edge.node.topCustomers!.map((customer) => customer.id)),
    );
    expect(customerIds.length).toBeGreaterThan(40);

    expect(statements).toHaveLength(4);
    const rankings = batches.filter((batch) => batch.sql.includes('v_customer_product_revenue'));
    expect(rankings).toHaveLength(1);
    // The product ids in page order (one array parameter), then the limit.
    expect(rankings[0]!.parameters).toEqual([`{${pageIds.join(',')}}`, 2]);
    const customers = batches.filter((batch) => batch.sql.includes('v_customer_analytics'));
    expect(customers).toHaveLength(1);
    expect([...customers[0]!.parameters].sort()).toEqual(distinct(customerIds).sort());
  });

  it('runs one ranking statement per distinct limit in the request', async () => {
    const query = /* GraphQL */ `
      query TwoLimits {
        products(first: 30) {
          edges {
            node {
              id
              one: topCustomers(limit: 1) {
                id
              }
              three: topCustomers(limit: 3) {
                id
                name
              }
            }
          }
        }
      }
    `;
    counted = [];
    recorder.statements = [];
    counting = true;
    recorder.recording = true;
    const { body } = await gateway.request<{ products: { edges: unknown[] } }, Record<string, never>>(query, {});
    counting = false;
    recorder.recording = false;
    expect(body.errors).toBeUndefined();
    expect(body.data!.products.edges).toHaveLength(30);
    const rankings = recorder.statements.filter((batch) => batch.sql.includes('v_customer_product_revenue'));
    expect(rankings.map((batch) => batch.parameters.at(-1)).sort()).toEqual([1, 3]);
    // Both rankings feed a single batch of customers.
    expect(recorder.statements.filter((batch) => batch.sql.includes('v_customer_analytics'))).toHaveLength(1);
    expect(counted).toHaveLength(5);
  });
});

describe('dashboard topProducts', () => {
  it('runs the same number of statements for limit 5 and limit 50', async () => {
    const small = await run(DashboardTopProductNamesDocument, { limit: 5 });
    const large = await run(DashboardTopProductNamesDocument, { limit: 50 });
    expect(small.data.dashboard.topProducts).toHaveLength(5);
    expect(large.data.dashboard.topProducts).toHaveLength(50);
    expect(large.statements).toHaveLength(small.statements.length);
  });

  it('reads the ranked products in the ranking statement itself and serves them through the primed loader', async () => {
    const { data, statements, batches } = await run(DashboardTopProductNamesDocument, { limit: 50 });
    const ranked = dbIds(data.dashboard.topProducts.map((entry) => entry.product.id));
    expect(statements).toHaveLength(1);
    expect(batches[0]!.sql).toContain('dashboard.top_products');
    expect(data.dashboard.topProducts.map((entry) => entry.product.name)).toEqual(ranked.map((id) => `Product ${id}`));
    expect(data.dashboard.topProducts.map((entry) => entry.product.id)).toEqual(
      ranked.map((id) => toGlobalId('Product', id)),
    );
  });
});

describe('dashboard with its comparison', () => {
  const JANUARY = { from: '2025-01-01', to: '2025-01-31' };
  // The statement each figure comes from, named in its leading comment.
  const labelOf = (sql: string) => /\/\* ([\w.]+) \*\//.exec(sql)?.[1];

  it('runs twice the statements of the dashboard alone, each once per range', async () => {
    const alone = await run(DashboardWithComparisonDocument, { ...JANUARY, compare: false });
    const compared = await run(DashboardWithComparisonDocument, { ...JANUARY, compare: true });
    expect(alone.data.dashboard.comparison).toBeUndefined();
    expect(compared.data.dashboard.comparison!.previous.topProducts).toHaveLength(0);
    expect(alone.statements.map(labelOf).sort()).toEqual([
      'dashboard.top_products',
      'dashboard.totals',
      'revenue.trend',
    ]);
    expect(compared.statements).toHaveLength(2 * alone.statements.length);
    // The same three statements over the current range (its own figures, and the changes' `current`) and
    // over December, the range compared with (`previous`, and the changes' `previous`).
    const ranges = compared.batches.map(
      (batch) => `${labelOf(batch.sql)} ${batch.parameters.filter((p) => typeof p === 'string').join(' ')}`,
    );
    expect(ranges.sort()).toEqual(
      [
        'dashboard.top_products 2025-01-01 2025-01-31',
        'dashboard.top_products 2024-12-01 2024-12-31',
        'dashboard.totals 2025-01-01 2025-01-31',
        'dashboard.totals 2024-12-01 2024-12-31',
        'revenue.trend 2025-01-31',
        'revenue.trend 2024-12-31',
      ].sort(),
    );
    expect(compared.data.dashboard.comparison!.totalRevenue.current).toBe(compared.data.dashboard.totalRevenue);
  });

  it('reads a range compared with once, however many aliases select it', async () => {
    const query = /* GraphQL */ `
      query Aliases {
        dashboard(from: "2025-01-10", to: "2025-01-20") {
          totalRevenue
          a: comparison {
            totalRevenue {
              percent
            }
            previous {
              totalRevenue
            }
          }
          b: comparison(period: PREVIOUS_PERIOD) {
            avgOrderValue {
              percent
            }
            completedTransactions {
              difference
            }
          }
          c: comparison(period: PREVIOUS_YEAR) {
            totalTransactions {
              previous
            }
          }
        }
      }
    `;
    counted = [];
    recorder.statements = [];
    counting = true;
    recorder.recording = true;
    const { body } = await gateway.request(query, {});
    counting = false;
    recorder.recording = false;
    expect(body.errors).toBeUndefined();
    // One totals statement per range: January 10 to 20, the eleven days before, and the same days of 2024.
    expect(recorder.statements.map((batch) => batch.parameters[0]).sort()).toEqual([
      '2024-01-10',
      '2024-12-30',
      '2025-01-10',
    ]);
    expect(counted).toHaveLength(3);
  });
});

it('counts the same statements through onQuery as the recorder sees', async () => {
  const { statements, batches } = await run(CustomerFavoriteNamesDocument, { first: 20 });
  expect([...statements].sort()).toEqual(batches.map((batch) => batch.sql).sort());
});
