import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDatabase } from '../../src/seed/seed-database.js';
import {
  CorrectnessCustomerByIdDocument,
  CorrectnessCustomersDocument,
  CorrectnessDashboardDocument,
  CorrectnessProductByIdDocument,
  CorrectnessProductsDocument,
  CorrectnessRevenueDocument,
  type CorrectnessCustomerFragment,
  type CorrectnessProductFragment,
} from '../generated/graphql.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { describeRoutes } from '../support/routes.js';
import {
  expectedCustomers,
  expectedDashboard,
  expectedProducts,
  expectedRevenue,
  expectProduct,
  servedCustomer,
  type DayRange,
  type ExpectedCustomer,
  type ExpectedProduct,
  type Granularity,
} from './expected.js';

// Broad coverage: a year of seeded sales (fixed seed and last day, so the data never changes), every figure
// of every query compared with plain SQL over the base tables, in UTC and in Asia/Jerusalem, with the gateway
// connected directly and through PgBouncer in transaction mode. The year holds
// both Israeli DST changes (2025-03-28, 2025-10-26) and, in Asia/Jerusalem, spills into 2026-01-01.

// 400 customers keep the full customer walk to four pages while each still buys about fifty times.
const SEED = { transactions: 20_000, customers: 400, seed: 20_250_101, days: 365, until: '2025-12-31' } as const;
const ZONES = ['UTC', 'Asia/Jerusalem'] as const;

const DASHBOARD_RANGES: { name: string; range: DayRange }[] = [
  { name: 'no range', range: {} },
  { name: 'only from', range: { from: '2025-03-12' } },
  { name: 'only to', range: { to: '2025-10-26' } },
  { name: 'from and to', range: { from: '2025-03-12', to: '2025-10-26' } },
  { name: 'the spring-forward day alone', range: { from: '2025-03-28', to: '2025-03-28' } },
  { name: 'days before the data', range: { from: '2024-11-01', to: '2024-11-30' } },
];

// Mid-week and mid-month edges (2025-03-12 is a Wednesday, 2025-11-19 a Wednesday), a range reaching into
// days without data and over a year end, and the open-ended forms.
const REVENUE_RANGES: { name: string; range: DayRange }[] = [
  { name: 'no range', range: {} },
  { name: 'a mid-week, mid-month range', range: { from: '2025-03-12', to: '2025-11-19' } },
  { name: 'only from', range: { from: '2025-02-13' } },
  { name: 'only to', range: { to: '2025-10-15' } },
  { name: 'a range over the year end, partly before the data', range: { from: '2024-12-18', to: '2025-01-08' } },
];
const GRANULARITIES: Granularity[] = ['DAY', 'WEEK', 'MONTH'];

describe.each(ZONES)('seeded shop reported in %s', (zone) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase({ reportTimezone: zone });
    await seedDatabase(database.handle.db, SEED);
    // Nothing the gateway serves may depend on the sessions' TimeZone, which a pooler does not let it set: the
    // database gives every new session one far from UTC (and from the report zone).
    if (database.url) {
      await sql
        .raw(`ALTER DATABASE ${new URL(database.url).pathname.slice(1)} SET TimeZone = 'Pacific/Kiritimati'`)
        .execute(database.handle.db);
    }
  });

  afterAll(async () => {
    await database?.drop();
  });

  describeRoutes((route) => {
    let gateway: TestGateway;

    beforeAll(async () => {
      gateway = await startTestGateway(await route.open(database));
    });

    afterAll(async () => {
      await gateway?.close();
    });

    async function query<T, V>(document: TypedDocumentNode<T, V>, variables: V): Promise<T> {
      const { status, body } = await gateway.request(document, variables);
      expect(body.errors).toBeUndefined();
      expect(status).toBe(200);
      return body.data!;
    }

    const db = () => database.handle.db;

    describe('dashboard', () => {
      it.each(DASHBOARD_RANGES)('matches the base tables with $name', async ({ range }) => {
        const [actual, expected] = await Promise.all([
          query(CorrectnessDashboardDocument, { ...range, limit: 50, days: 366 }),
          expectedDashboard(db(), zone, range, { limit: 50, days: 366 }),
        ]);
        expect(actual.dashboard).toEqual(expected);
      });

      it('defaults to five top products and a thirty-day trend', async () => {
        const range = { from: '2025-05-01', to: '2025-08-31' };
        const actual = await query(CorrectnessDashboardDocument, range);
        expect(actual.dashboard).toEqual(await expectedDashboard(db(), zone, range, { limit: 5, days: 30 }));
        expect(actual.dashboard.topProducts).toHaveLength(5);
        expect(actual.dashboard.recentTrend.at(-1)?.date).toBe('2025-08-31');
      });

      it('ends a one-day trend at the last day with any transaction when to is absent', async () => {
        const actual = await query(CorrectnessDashboardDocument, { days: 1, limit: 1 });
        const expected = await expectedDashboard(db(), zone, {}, { limit: 1, days: 1 });
        expect(actual.dashboard).toEqual(expected);
        expect(actual.dashboard.recentTrend).toHaveLength(1);
      });

      it('counts only completed transactions as revenue', async () => {
        const { dashboard } = await query(CorrectnessDashboardDocument, {});
        // The seed does make pending and cancelled sales; they count as transactions, never as revenue.
        expect(dashboard.pendingTransactions).toBeGreaterThan(0);
        expect(dashboard.cancelledTransactions).toBeGreaterThan(0);
        expect(dashboard.totalTransactions).toBe(
          dashboard.completedTransactions + dashboard.pendingTransactions + dashboard.cancelledTransactions,
        );
        const trendRevenue = await query(CorrectnessRevenueDocument, {});
        expect(dashboard.totalRevenue).toBe(trendRevenue.revenue.totalRevenue);
        expect(trendRevenue.revenue.totalTransactions).toBe(dashboard.completedTransactions);
      });
    });

    describe('revenue', () => {
      const cases = GRANULARITIES.flatMap((granularity) => REVENUE_RANGES.map((c) => ({ ...c, granularity })));

      it.each(cases)('matches the base tables by $granularity with $name', async ({ range, granularity }) => {
        const [actual, expected] = await Promise.all([
          query(CorrectnessRevenueDocument, { ...range, granularity }),
          expectedRevenue(db(), zone, range, granularity),
        ]);
        expect(actual.revenue).toEqual(expected);
      });

      it('starts the first week and month bucket before a mid-period from, with only the days from it on', async () => {
        // 2025-03-12 is a Wednesday: its week starts on Monday 03-10 and its month on 03-01, but both buckets
        // hold only 03-12 onwards; likewise the last buckets hold only the days up to 2025-11-19.
        const range = { from: '2025-03-12', to: '2025-11-19' };
        const cases = [
          { granularity: 'WEEK', first: '2025-03-10', firstEnd: '2025-03-16', last: '2025-11-17' },
          { granularity: 'MONTH', first: '2025-03-01', firstEnd: '2025-03-31', last: '2025-11-01' },
        ] as const;
        for (const { granularity, first, firstEnd, last } of cases) {
          const { revenue } = await query(CorrectnessRevenueDocument, { ...range, granularity });
          const clipped = await expectedRevenue(db(), zone, { from: range.from, to: firstEnd }, 'DAY');
          const tail = await expectedRevenue(db(), zone, { from: last, to: range.to }, 'DAY');
          expect(revenue.points[0]).toMatchObject({
            date: first,
            totalRevenue: clipped.totalRevenue,
            transactionCount: clipped.totalTransactions,
          });
          expect(revenue.points.at(-1)).toMatchObject({
            date: last,
            totalRevenue: tail.totalRevenue,
            transactionCount: tail.totalTransactions,
          });
        }
      });

      it('defaults to daily points', async () => {
        const range = { from: '2025-06-01', to: '2025-06-30' };
        const actual = await query(CorrectnessRevenueDocument, range);
        expect(actual.revenue).toEqual(await expectedRevenue(db(), zone, range, 'DAY'));
        expect(actual.revenue.points).toHaveLength(30);
      });
    });

    describe('customers', () => {
      let served: CorrectnessCustomerFragment[];
      let totalCount: number;
      let expected: ExpectedCustomer[];

      beforeAll(async () => {
        served = [];
        let after: string | null | undefined;
        for (;;) {
          const { customers } = await query(CorrectnessCustomersDocument, { first: 100, after });
          served.push(...customers!.edges.map((edge) => edge.node));
          totalCount = customers!.totalCount;
          if (!customers!.pageInfo.hasNextPage) break;
          after = customers!.pageInfo.endCursor;
        }
        expected = await expectedCustomers(db());
      });

      it('serves every customer with lifetime figures and favourite product from completed transactions', () => {
        expect(new Set(expected.map((c) => c.name)).size).toBe(expected.length);
        expect(totalCount).toBe(expected.length);
        expect(served.map(servedCustomer)).toEqual(expected);
      });

      it('includes customers who never completed a purchase, at 0.00 and without a favourite', () => {
        const idle = served.filter((c) => c.transactionCount === 0);
        expect(idle.length).toBeGreaterThan(0);
        for (const customer of idle) {
          expect(customer).toMatchObject({
            lifetimeValue: '0.00',
            avgOrderValue: '0.00',
            firstPurchaseAt: null,
            lastPurchaseAt: null,
            favoriteProduct: null,
          });
        }
      });

      it('serves the same figures through customer(id) and node(id)', async () => {
        const picks = [0, 1, Math.floor(served.length / 2), served.length - 1].map((i) => served[i]!);
        for (const customer of picks) {
          const { customer: byId, node } = await query(CorrectnessCustomerByIdDocument, { id: customer.id });
          const want = expected.find((c) => c.name === customer.name);
          expect(byId && servedCustomer(byId)).toEqual(want);
          expect(node?.__typename === 'Customer' ? servedCustomer(node) : node).toEqual(want);
        }
      });
    });

    describe('products', () => {
      let served: CorrectnessProductFragment[];
      let totalCount: number;
      let expected: ExpectedProduct[];

      beforeAll(async () => {
        const { products } = await query(CorrectnessProductsDocument, { first: 100 });
        expect(products.pageInfo.hasNextPage).toBe(false);
        served = products.edges.map((edge) => edge.node);
        totalCount = products.totalCount;
        expected = await expectedProducts(db());
      });

      it('serves every product with revenue, units, share and top customers from completed transactions', () => {
        expect(totalCount).toBe(expected.length);
        expect(served.map((p) => p.sku)).toEqual(expected.map((p) => p.sku));
        served.forEach((product, i) => expectProduct(product, expected[i]!));
      });

      it('gives revenue shares that add up to one', () => {
        const sum = served.reduce((total, p) => total + p.revenueShare, 0);
        expect(Math.abs(sum - 1)).toBeLessThan(1e-9);
      });

      it('serves the same figures through product(id) and node(id)', async () => {
        for (const product of [served[0]!, served[7]!, served.at(-1)!]) {
          const { product: byId, node } = await query(CorrectnessProductByIdDocument, { id: product.id });
          const want = expected.find((p) => p.sku === product.sku)!;
          expectProduct(byId!, want);
          expect(node?.__typename).toBe('Product');
          if (node?.__typename === 'Product') expectProduct(node, want);
        }
      });
    });
  });
});
