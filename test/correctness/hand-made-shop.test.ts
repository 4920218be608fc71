import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
import {
  describeRange,
  expectedCustomers,
  expectedDashboard,
  expectedProducts,
  expectedRevenue,
  expectProduct,
  instant,
  servedCustomer,
  type DayRange,
  type Granularity,
} from './expected.js';

// Edge cases on a shop small enough to check by hand. Every query is compared with plain SQL over the base
// tables in both zones, and the figures that matter are also written out below, worked out by hand.
//
// Asia/Jerusalem is UTC+2 in winter and UTC+3 in summer. 2025-03-28 (a Friday) jumps from 02:00 to 03:00 and
// lasts 23 hours: [2025-03-27T22:00Z, 2025-03-28T21:00Z). 2025-10-26 falls back from 02:00 to 01:00 and lasts
// 25 hours: [2025-10-25T21:00Z, 2025-10-26T22:00Z). Local midnight is 22:00Z in winter, 21:00Z in summer.

const FIXTURE = `
INSERT INTO customers (id, name, email, city, created_at) VALUES
  (1, 'אלפא מחשוב בע"מ', 'alpha@example.co.il', 'תל אביב-יפו', '2024-01-10T08:00:00Z'),
  (2, 'בטא טכנולוגיות', 'beta@example.co.il', 'חיפה', '2024-02-11T08:00:00Z'),
  (3, 'גמא ייעוץ', NULL, 'ירושלים', '2024-03-12T08:00:00Z'),         -- never buys anything
  (4, 'דלתא שיווק', 'delta@example.co.il', NULL, '2024-04-13T08:00:00Z'),  -- only pending and cancelled orders
  (5, 'Epsilon Ltd', 'office@epsilon.example', 'Haifa', '2024-05-14T08:00:00Z'),
  (6, 'זטא הנדסה', 'zeta@example.co.il', 'באר שבע', '2024-06-15T08:00:00Z'),  -- favourite product is a tie
  (7, 'אטא סחר', 'eta@example.co.il', 'נתניה', '2024-07-16T08:00:00Z');     -- average lands on half a cent

-- Inserted out of id order; the SKUs sort against the ids, so a tie broken by SKU or name would show.
INSERT INTO products (id, sku, name, category, unit_price) VALUES
  (3, 'FX-ACC', 'עכבר אלחוטי', 'אביזרים', 10.00),
  (1, 'FX-LAP', 'מחשב נייד', 'מחשבים ניידים', 100.00),
  (5, 'FX-CAB', 'כבל HDMI', 'אביזרים', 5.00),                     -- never sold
  (2, 'FX-PHN', 'טלפון סלולרי', 'טלפונים סלולריים', 15.00),
  (4, 'FX-KBD', 'מקלדת', 'אביזרים', 10.00);

--                                                               UTC day  | Asia/Jerusalem day (local time)
INSERT INTO transactions (id, customer_id, product_id, quantity, amount, status, transaction_date) VALUES
  ( 1, 4, 2,  1,   15.00, 'cancelled', '2025-03-25T22:30:00Z'),  -- 03-25 | 03-26 00:30 (first day of data)
  ( 2, 1, 1,  1,  100.00, 'completed', '2025-03-27T21:59:59Z'),  -- 03-27 | 03-27 23:59:59
  ( 3, 2, 1,  1,  100.00, 'completed', '2025-03-27T22:00:00Z'),  -- 03-27 | 03-28 00:00
  ( 4, 1, 3,  3,   30.00, 'completed', '2025-03-27T23:59:59Z'),  -- 03-27 | 03-28 01:59:59
  ( 5, 2, 2,  2,   30.00, 'completed', '2025-03-28T00:00:00Z'),  -- 03-28 | 03-28 03:00 (02:00 never happened)
  ( 6, 4, 1,  1,  100.00, 'pending',   '2025-03-28T00:00:00Z'),  -- 03-28 | 03-28 03:00
  ( 7, 1, 2,  1,   15.00, 'completed', '2025-03-28T20:59:59Z'),  -- 03-28 | 03-28 23:59:59
  ( 8, 5, 3,  3,   30.00, 'completed', '2025-03-28T21:00:00Z'),  -- 03-28 | 03-29 00:00
  ( 9, 4, 2,  1,   15.00, 'cancelled', '2025-03-28T23:00:00Z'),  -- 03-28 | 03-29 02:00
  (10, 2, 1, 12, 1234.56, 'completed', '2025-06-10T12:00:00Z'),  -- 06-10 | 06-10
  (11, 5, 1, 12, 1234.57, 'completed', '2025-06-10T13:00:00Z'),  -- 06-10 | 06-10
  (12, 1, 1,  1, 9999.99, 'cancelled', '2025-06-11T09:00:00Z'),  -- 06-11 | 06-11
  (13, 4, 3,  1,   10.00, 'pending',   '2025-06-11T10:00:00Z'),  -- 06-11 | 06-11
  (14, 6, 3,  3,   30.00, 'completed', '2025-08-14T07:00:00Z'),  -- 08-14 | 08-14 (bought before the tie's winner)
  (15, 6, 2,  2,   30.00, 'completed', '2025-08-14T09:00:00Z'),  -- 08-14 | 08-14
  (16, 1, 1,  1,  100.00, 'completed', '2025-10-25T20:59:59Z'),  -- 10-25 | 10-25 23:59:59
  (17, 2, 2,  1,   15.00, 'completed', '2025-10-25T21:00:00Z'),  -- 10-25 | 10-26 00:00
  (18, 1, 3,  1,   10.00, 'completed', '2025-10-25T22:30:00Z'),  -- 10-25 | 10-26 01:30 (summer time)
  (19, 5, 2,  2,   30.00, 'completed', '2025-10-25T23:30:00Z'),  -- 10-25 | 10-26 01:30 (winter time, again)
  (20, 2, 3,  2,   25.00, 'completed', '2025-10-26T21:59:59Z'),  -- 10-26 | 10-26 23:59:59
  (21, 1, 2,  1,   15.00, 'completed', '2025-10-26T22:00:00Z'),  -- 10-26 | 10-27 00:00
  (22, 5, 1,  1,  100.00, 'completed', '2025-10-26T23:59:59Z'),  -- 10-26 | 10-27 01:59:59
  (23, 2, 3,  1,   10.00, 'completed', '2025-10-27T00:00:00Z'),  -- 10-27 | 10-27 02:00
  (24, 1, 1,  1,  100.00, 'pending',   '2025-10-29T10:00:00Z'),  -- 10-29 | 10-29 (last day: no revenue)
  (25, 7, 4,  1,   10.00, 'completed', '2025-07-01T10:00:00Z'),  -- 07-01 | 07-01
  (26, 7, 4,  1,   10.01, 'completed', '2025-07-01T11:00:00Z');  -- 07-01 | 07-01
`;

const ZONES = ['UTC', 'Asia/Jerusalem'] as const;
type Zone = (typeof ZONES)[number];

const point = (
  date: string,
  totalRevenue: string,
  transactionCount: number,
  avgTransactionValue: string,
  uniqueCustomers: number,
) => ({
  date,
  totalRevenue,
  transactionCount,
  avgTransactionValue,
  uniqueCustomers,
});
const empty = (date: string) => point(date, '0.00', 0, '0.00', 0);

const databases = new Map<Zone, TestDatabase>();
const gateways = new Map<Zone, TestGateway>();

beforeAll(async () => {
  await Promise.all(
    ZONES.map(async (zone) => {
      const database = await createTestDatabase({ reportTimezone: zone });
      databases.set(zone, database);
      await database.handle.runScript(database.handle.db, FIXTURE);
      gateways.set(zone, await startTestGateway(database.handle));
    }),
  );
});

afterAll(async () => {
  await Promise.all([...gateways.values()].map((gateway) => gateway.close()));
  await Promise.all([...databases.values()].map((database) => database.drop()));
});

async function query<T, V>(zone: Zone, document: TypedDocumentNode<T, V>, variables: V): Promise<T> {
  const { status, body } = await gateways.get(zone)!.request(document, variables);
  expect(body.errors).toBeUndefined();
  expect(status).toBe(200);
  return body.data!;
}

async function allCustomers(zone: Zone): Promise<CorrectnessCustomerFragment[]> {
  const { customers } = await query(zone, CorrectnessCustomersDocument, { first: 100 });
  expect(customers!.pageInfo.hasNextPage).toBe(false);
  return customers!.edges.map((edge) => edge.node);
}

async function allProducts(zone: Zone): Promise<CorrectnessProductFragment[]> {
  const { products } = await query(zone, CorrectnessProductsDocument, { first: 100 });
  expect(products.pageInfo.hasNextPage).toBe(false);
  return products.edges.map((edge) => edge.node);
}

describe.each(ZONES)('hand-made shop reported in %s, against the base tables', (zone) => {
  const db = () => databases.get(zone)!.handle.db;

  const dashboardRanges: DayRange[] = [
    {},
    { from: '2025-03-28' },
    { to: '2025-03-28' },
    { from: '2025-03-28', to: '2025-03-28' },
    { from: '2025-03-27', to: '2025-03-29' },
    { from: '2025-10-25', to: '2025-10-27' },
    { from: '2025-10-26', to: '2025-10-26' },
    { from: '2025-06-10', to: '2025-06-10' },
    { from: '2025-11-01', to: '2025-11-30' },
  ];

  it.each(dashboardRanges.map((range) => ({ range, name: describeRange(range) })))(
    'matches the dashboard $name',
    async ({ range }) => {
      // limit 2 cuts between FX-PHN and FX-ACC, which tie at 135.00 over all days.
      for (const [limit, days] of [
        [2, 7],
        [50, 366],
      ] as const) {
        const [actual, expected] = await Promise.all([
          query(zone, CorrectnessDashboardDocument, { ...range, limit, days }),
          expectedDashboard(db(), zone, range, { limit, days }),
        ]);
        expect(actual.dashboard, `limit ${limit}, days ${days}`).toEqual(expected);
      }
    },
  );

  const revenueRanges: DayRange[] = [
    {},
    { from: '2025-03-26' },
    { to: '2025-06-10' },
    { from: '2025-03-28', to: '2025-04-06' },
    { from: '2025-03-27', to: '2025-03-29' },
    { from: '2025-10-26', to: '2025-11-15' },
    { from: '2025-03-01', to: '2025-10-26' },
    { from: '2025-06-10', to: '2025-06-11' },
  ];
  const revenueCases = (['DAY', 'WEEK', 'MONTH'] as Granularity[]).flatMap((granularity) =>
    revenueRanges.map((range) => ({ range, granularity, name: describeRange(range) })),
  );

  it.each(revenueCases)('matches the $granularity revenue $name', async ({ granularity, range }) => {
    const [actual, expected] = await Promise.all([
      query(zone, CorrectnessRevenueDocument, { ...range, granularity }),
      expectedRevenue(db(), zone, range, granularity),
    ]);
    expect(actual.revenue).toEqual(expected);
  });

  it('matches every customer, in the default order', async () => {
    const served = await allCustomers(zone);
    expect(served.map(servedCustomer)).toEqual(await expectedCustomers(db()));
  });

  it('matches every customer fetched by customer(id) and node(id)', async () => {
    const expected = await expectedCustomers(db());
    for (const customer of await allCustomers(zone)) {
      const { customer: byId, node } = await query(zone, CorrectnessCustomerByIdDocument, { id: customer.id });
      const want = expected.find((c) => c.name === customer.name);
      expect(byId && servedCustomer(byId)).toEqual(want);
      expect(node?.__typename === 'Customer' ? servedCustomer(node) : node).toEqual(want);
    }
  });

  it('matches every product, in the default order', async () => {
    const served = await allProducts(zone);
    const expected = await expectedProducts(db());
    expect(served.map((p) => p.sku)).toEqual(expected.map((p) => p.sku));
    served.forEach((product, i) => expectProduct(product, expected[i]!));
  });

  it('matches every product fetched by product(id) and node(id)', async () => {
    const expected = await expectedProducts(db());
    for (const product of await allProducts(zone)) {
      const { product: byId, node } = await query(zone, CorrectnessProductByIdDocument, { id: product.id });
      const want = expected.find((p) => p.sku === product.sku)!;
      expectProduct(byId!, want);
      expect(node?.__typename).toBe('Product');
      if (node?.__typename === 'Product') expectProduct(node, want);
    }
  });
});

describe('hand-made shop, figures worked out by hand', () => {
  it('puts the same transaction on different days in UTC and in Asia/Jerusalem', async () => {
    // Transaction 3 (2025-03-27T22:00:00Z, 100.00 by customer 2) is still 03-27 in UTC, already 03-28 00:00 in
    // Jerusalem; transaction 8 (2025-03-28T21:00:00Z, 30.00) is 03-28 in UTC and 03-29 00:00 in Jerusalem.
    // UTC       03-27: #2 100 + #3 100 + #4 30 = 230.00 / 3 = 76.67, customers 1, 2
    //           03-28: #5 30 + #7 15 + #8 30    =  75.00 / 3 = 25.00, customers 2, 1, 5
    // Jerusalem 03-27: #2 100                   = 100.00 / 1
    //           03-28: #3 100 + #4 30 + #5 30 + #7 15 = 175.00 / 4 = 43.75, customers 2, 1 (a 23-hour day)
    //           03-29: #8 30                    =  30.00 / 1
    const range = { from: '2025-03-27', to: '2025-03-29', granularity: 'DAY' as const };
    const utc = await query('UTC', CorrectnessRevenueDocument, range);
    const jerusalem = await query('Asia/Jerusalem', CorrectnessRevenueDocument, range);
    expect(utc.revenue.points).toEqual([
      point('2025-03-27', '230.00', 3, '76.67', 2),
      point('2025-03-28', '75.00', 3, '25.00', 3),
      empty('2025-03-29'),
    ]);
    expect(jerusalem.revenue.points).toEqual([
      point('2025-03-27', '100.00', 1, '100.00', 1),
      point('2025-03-28', '175.00', 4, '43.75', 2),
      point('2025-03-29', '30.00', 1, '30.00', 1),
    ]);
    // Both count the same 305.00 over these three days: nothing is lost or counted twice at the DST change.
    expect(utc.revenue.totalRevenue).toBe('305.00');
    expect(jerusalem.revenue.totalRevenue).toBe('305.00');
  });

  it('keeps the 25-hour autumn day together in Asia/Jerusalem', async () => {
    // UTC       10-25: #16 100 + #17 15 + #18 10 + #19 30 = 155.00 / 4 = 38.75, customers 1, 2, 5
    //           10-26: #20 25 + #21 15 + #22 100         = 140.00 / 3 = 46.67 (46.666...), customers 2, 1, 5
    //           10-27: #23 10                            =  10.00 / 1
    // Jerusalem 10-25: #16 100 (23:59:59 local)
    //           10-26: #17 15 + #18 10 + #19 30 + #20 25 = 80.00 / 4 = 20.00; #18 and #19 both at 01:30 local
    //           10-27: #21 15 + #22 100 + #23 10         = 125.00 / 3 = 41.67 (41.666...)
    const range = { from: '2025-10-25', to: '2025-10-27', granularity: 'DAY' as const };
    const utc = await query('UTC', CorrectnessRevenueDocument, range);
    const jerusalem = await query('Asia/Jerusalem', CorrectnessRevenueDocument, range);
    expect(utc.revenue.points).toEqual([
      point('2025-10-25', '155.00', 4, '38.75', 3),
      point('2025-10-26', '140.00', 3, '46.67', 3),
      point('2025-10-27', '10.00', 1, '10.00', 1),
    ]);
    expect(jerusalem.revenue.points).toEqual([
      point('2025-10-25', '100.00', 1, '100.00', 1),
      point('2025-10-26', '80.00', 4, '20.00', 3),
      point('2025-10-27', '125.00', 3, '41.67', 3),
    ]);
  });

  it('counts a day of the dashboard in the report zone, with pending and cancelled apart from revenue', async () => {
    // 2025-03-28 in UTC: #5, #6 (pending), #7, #8, #9 (cancelled): revenue 75.00 over 3 completed.
    // 2025-03-28 in Jerusalem: #3, #4, #5, #6 (pending), #7: revenue 175.00 over 4; #9 falls on 03-29.
    const range = { from: '2025-03-28', to: '2025-03-28', limit: 5, days: 1 };
    const utc = await query('UTC', CorrectnessDashboardDocument, range);
    const jerusalem = await query('Asia/Jerusalem', CorrectnessDashboardDocument, range);
    expect(utc.dashboard).toMatchObject({
      totalRevenue: '75.00',
      totalTransactions: 5,
      completedTransactions: 3,
      pendingTransactions: 1,
      cancelledTransactions: 1,
      avgOrderValue: '25.00',
      recentTrend: [point('2025-03-28', '75.00', 3, '25.00', 3)],
    });
    expect(jerusalem.dashboard).toMatchObject({
      totalRevenue: '175.00',
      totalTransactions: 5,
      completedTransactions: 4,
      pendingTransactions: 1,
      cancelledTransactions: 0,
      avgOrderValue: '43.75',
      recentTrend: [point('2025-03-28', '175.00', 4, '43.75', 2)],
    });
    // UTC: FX-LAP 0 (only #6, pending), FX-PHN #5 30 + #7 15 = 45.00, FX-ACC #8 30.00.
    // Jerusalem: FX-LAP #3 100, FX-PHN #5 + #7 = 45.00, FX-ACC #4 30.00.
    expect(utc.dashboard.topProducts.map((p) => [p.product.sku, p.revenue])).toEqual([
      ['FX-PHN', '45.00'],
      ['FX-ACC', '30.00'],
    ]);
    expect(jerusalem.dashboard.topProducts.map((p) => [p.product.sku, p.revenue])).toEqual([
      ['FX-LAP', '100.00'],
      ['FX-PHN', '45.00'],
      ['FX-ACC', '30.00'],
    ]);
  });

  it.each(ZONES)('counts only completed transactions as revenue over all data (%s)', async (zone) => {
    // Completed: FX-LAP 100+100+1234.56+1234.57+100+100 = 2869.13, FX-PHN 30+15+30+15+30+15 = 135.00,
    // FX-ACC 30+30+30+10+25+10 = 135.00, FX-KBD 10.00+10.01 = 20.01; all 3159.14 over 20 transactions.
    // Pending #6, #13, #24 and cancelled #1, #9, #12 (9999.99) never count. 3159.14 / 20 = 157.957 -> 157.96.
    const { dashboard } = await query(zone, CorrectnessDashboardDocument, {});
    expect(dashboard).toMatchObject({
      totalRevenue: '3159.14',
      totalTransactions: 26,
      completedTransactions: 20,
      pendingTransactions: 3,
      cancelledTransactions: 3,
      avgOrderValue: '157.96',
    });
  });

  it.each(ZONES)('rounds averages that land on half a cent away from zero (%s)', async (zone) => {
    // 06-10: 1234.56 + 1234.57 = 2469.13 / 2 = 1234.565 -> 1234.57 (a float would give 1234.56, banker's 1234.56).
    // 07-01: 10.00 + 10.01 = 20.01 / 2 = 10.005 -> 10.01 (a float would give 10.00, banker's 10.00).
    // 06-10..06-11 is two calendar days: 2469.13 / 2 = 1234.565 -> 1234.57 a day.
    const { revenue } = await query(zone, CorrectnessRevenueDocument, { from: '2025-06-10', to: '2025-06-11' });
    expect(revenue).toMatchObject({
      totalRevenue: '2469.13',
      totalTransactions: 2,
      avgDailyRevenue: '1234.57',
      points: [point('2025-06-10', '2469.13', 2, '1234.57', 2), empty('2025-06-11')],
    });
    const day = await query(zone, CorrectnessDashboardDocument, { from: '2025-06-10', to: '2025-06-10' });
    expect(day.dashboard.avgOrderValue).toBe('1234.57');
    const july = await query(zone, CorrectnessRevenueDocument, { from: '2025-07-01', to: '2025-07-01' });
    expect(july.revenue.points).toEqual([point('2025-07-01', '20.01', 2, '10.01', 1)]);
    const customers = await allCustomers(zone);
    expect(customers.find((c) => c.name === 'אטא סחר')).toMatchObject({
      lifetimeValue: '20.01',
      transactionCount: 2,
      avgOrderValue: '10.01',
    });
  });

  it.each(ZONES)('fills a mid-period first bucket with the days from `from` on only (%s)', async (zone) => {
    // WEEK 03-28 (Fri)..04-06: buckets 03-24 and 03-31. 03-27 belongs to the first week but is outside the range.
    //   UTC: 03-28 only: 75.00 / 3 = 25.00, customers 2, 1, 5.
    //   Jerusalem: 03-28 175.00 + 03-29 30.00 = 205.00 / 5 = 41.00, customers 2, 1, 5.
    //   avgDailyRevenue over 10 days: 7.50 (UTC), 20.50 (Jerusalem).
    const week = await query(zone, CorrectnessRevenueDocument, {
      from: '2025-03-28',
      to: '2025-04-06',
      granularity: 'WEEK',
    });
    expect(week.revenue).toMatchObject(
      zone === 'UTC'
        ? { avgDailyRevenue: '7.50', points: [point('2025-03-24', '75.00', 3, '25.00', 3), empty('2025-03-31')] }
        : { avgDailyRevenue: '20.50', points: [point('2025-03-24', '205.00', 5, '41.00', 3), empty('2025-03-31')] },
    );
    // MONTH 10-26..11-15: buckets 10-01 (only 10-26 and 10-27 count) and 11-01. 21 calendar days.
    //   UTC: #20 25 + #21 15 + #22 100 + #23 10 = 150.00 / 4 = 37.50; 150 / 21 = 7.142... -> 7.14.
    //   Jerusalem: #17..#23 = 80.00 + 125.00 = 205.00 / 7 = 29.285... -> 29.29; 205 / 21 = 9.761... -> 9.76.
    const month = await query(zone, CorrectnessRevenueDocument, {
      from: '2025-10-26',
      to: '2025-11-15',
      granularity: 'MONTH',
    });
    expect(month.revenue).toMatchObject(
      zone === 'UTC'
        ? { avgDailyRevenue: '7.14', points: [point('2025-10-01', '150.00', 4, '37.50', 3), empty('2025-11-01')] }
        : { avgDailyRevenue: '9.76', points: [point('2025-10-01', '205.00', 7, '29.29', 3), empty('2025-11-01')] },
    );
  });

  it.each(ZONES)('spans the first to the last day with any transaction without a range (%s)', async (zone) => {
    // The first transaction (#1, cancelled, 2025-03-25T22:30Z) is 03-25 in UTC and 03-26 in Jerusalem; the
    // last (#24, pending) is 10-29 in both. Neither is revenue, yet both bound the series and the trend.
    const { revenue } = await query(zone, CorrectnessRevenueDocument, {});
    const first = zone === 'UTC' ? '2025-03-25' : '2025-03-26';
    expect(revenue).toMatchObject({ from: first, to: '2025-10-29', totalRevenue: '3159.14', totalTransactions: 20 });
    expect(revenue.points[0]).toEqual(empty(first));
    expect(revenue.points.at(-1)).toEqual(empty('2025-10-29'));
    const { dashboard } = await query(zone, CorrectnessDashboardDocument, { days: 5 });
    expect(dashboard.recentTrend).toEqual(
      zone === 'UTC'
        ? [
            point('2025-10-25', '155.00', 4, '38.75', 3),
            point('2025-10-26', '140.00', 3, '46.67', 3),
            point('2025-10-27', '10.00', 1, '10.00', 1),
            empty('2025-10-28'),
            empty('2025-10-29'),
          ]
        : [
            point('2025-10-25', '100.00', 1, '100.00', 1),
            point('2025-10-26', '80.00', 4, '20.00', 3),
            point('2025-10-27', '125.00', 3, '41.67', 3),
            empty('2025-10-28'),
            empty('2025-10-29'),
          ],
    );
  });

  it('breaks equal revenue ties in topProducts by product id', async () => {
    // FX-PHN (id 2) and FX-ACC (id 3) both made 135.00: FX-PHN first, although 'FX-ACC' sorts first as text.
    const { dashboard } = await query('UTC', CorrectnessDashboardDocument, {});
    expect(dashboard.topProducts.map((p) => [p.product.sku, p.revenue, p.unitsSold, p.transactionCount])).toEqual([
      ['FX-LAP', '2869.13', 28, 6],
      ['FX-PHN', '135.00', 9, 6],
      ['FX-ACC', '135.00', 13, 6],
      ['FX-KBD', '20.01', 2, 2],
    ]);
  });

  it('orders products by revenue as a number, ties by product id', async () => {
    // As text, '20.01' would sort above '135.00'; the order is numeric: 2869.13, 135.00, 135.00, 20.01, 0.00.
    const products = await allProducts('UTC');
    expect(products.map((p) => [p.sku, p.revenue])).toEqual([
      ['FX-LAP', '2869.13'],
      ['FX-PHN', '135.00'],
      ['FX-ACC', '135.00'],
      ['FX-KBD', '20.01'],
      ['FX-CAB', '0.00'],
    ]);
  });

  it('ranks topCustomers by revenue on the product, ties by customer id', async () => {
    const products = await allProducts('UTC');
    // On FX-PHN: customer 2 spent 30 + 15 = 45.00; customers 1 (15 + 15), 5 (30) and 6 (30) tie at 30.00.
    const phone = products.find((p) => p.sku === 'FX-PHN')!;
    expect(phone.topCustomers!.map((c) => c.name)).toEqual(['בטא טכנולוגיות', 'אלפא מחשוב בע"מ', 'Epsilon Ltd']);
    expect(phone.topTwenty!.map((c) => c.name)).toEqual([
      'בטא טכנולוגיות',
      'אלפא מחשוב בע"מ',
      'Epsilon Ltd',
      'זטא הנדסה',
    ]);
    // On FX-LAP: customer 5 1234.57 + 100 = 1334.57 beats customer 2 100 + 1234.56 = 1334.56 by a cent.
    const laptop = products.find((p) => p.sku === 'FX-LAP')!;
    expect(laptop.topCustomers!.map((c) => c.name)).toEqual(['Epsilon Ltd', 'בטא טכנולוגיות', 'אלפא מחשוב בע"מ']);
    expect(products.find((p) => p.sku === 'FX-CAB')!.topTwenty).toEqual([]);
  });

  it('picks the favourite product by revenue, ties by product id', async () => {
    // Customer 6 spent 30.00 on FX-ACC (id 3, bought first) and 30.00 on FX-PHN (id 2): the favourite is FX-PHN.
    const customers = await allCustomers('UTC');
    expect(customers.find((c) => c.name === 'זטא הנדסה')?.favoriteProduct).toEqual({ sku: 'FX-PHN' });
  });

  it('serves lifetime figures per customer, also for customers without completed transactions', async () => {
    // Default order: lifetime value descending; customers 3 and 4 tie at 0.00 and follow by id.
    // Customer 5: 30 + 1234.57 + 30 + 100 = 1394.57 / 4 = 348.6425 -> 348.64.
    const customers = await allCustomers('Asia/Jerusalem');
    expect(
      customers.map((c) => [
        c.name,
        c.lifetimeValue,
        c.transactionCount,
        c.avgOrderValue,
        c.favoriteProduct?.sku ?? null,
      ]),
    ).toEqual([
      ['בטא טכנולוגיות', '1414.56', 6, '235.76', 'FX-LAP'],
      ['Epsilon Ltd', '1394.57', 4, '348.64', 'FX-LAP'],
      ['אלפא מחשוב בע"מ', '270.00', 6, '45.00', 'FX-LAP'],
      ['זטא הנדסה', '60.00', 2, '30.00', 'FX-PHN'],
      ['אטא סחר', '20.01', 2, '10.01', 'FX-KBD'],
      ['גמא ייעוץ', '0.00', 0, '0.00', null],
      ['דלתא שיווק', '0.00', 0, '0.00', null],
    ]);
    const first = customers[0]!;
    expect([instant(first.firstPurchaseAt), instant(first.lastPurchaseAt)]).toEqual([
      '2025-03-27T22:00:00.000Z',
      '2025-10-27T00:00:00.000Z',
    ]);
    // Customer 4 has pending and cancelled orders only: no purchase times.
    expect(customers.at(-1)).toMatchObject({
      email: 'delta@example.co.il',
      city: null,
      firstPurchaseAt: null,
      lastPurchaseAt: null,
    });
  });

  it('gives each product its share of all completed revenue', async () => {
    const products = await allProducts('UTC');
    const share = Object.fromEntries(products.map((p) => [p.sku, p.revenueShare]));
    expect(share['FX-LAP']).toBeCloseTo(2869.13 / 3159.14, 12);
    expect(share['FX-PHN']).toBeCloseTo(135 / 3159.14, 12);
    expect(share['FX-ACC']).toBeCloseTo(135 / 3159.14, 12);
    expect(share['FX-KBD']).toBeCloseTo(20.01 / 3159.14, 12);
    expect(share['FX-CAB']).toBe(0);
  });
});
