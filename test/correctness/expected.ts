import { sql, type Kysely, type RawBuilder } from 'kysely';
import { expect } from 'vitest';
import type { Database } from '../../src/db/database.js';
import type { CorrectnessCustomerFragment, CorrectnessProductFragment } from '../generated/graphql.js';

// The figures the API must serve, computed again with plain SQL over the base tables (customers, products,
// transactions) only: no v_* view and no mp_* function is read here, so a mistake in the shared reporting
// rules cannot hide in both the gateway and its expectation. Each query applies the contract's rules itself:
//   day      = (transaction_date AT TIME ZONE <zone>)::date
//   revenue  = amount of completed transactions only
//   average  = round(revenue / count, 2), half away from zero (PostgreSQL's numeric round), or 0.00
//   ranges   = inclusive calendar days
// Money is compared as the exact text PostgreSQL prints for round(x, 2); counts as int4 (JavaScript numbers).

type Db = Kysely<Database>;

export type Granularity = 'DAY' | 'WEEK' | 'MONTH';

export interface DayRange {
  from?: string;
  to?: string;
}

export interface ExpectedPoint {
  date: string;
  totalRevenue: string;
  transactionCount: number;
  avgTransactionValue: string;
  uniqueCustomers: number;
}

export interface ExpectedDashboard {
  totalRevenue: string;
  totalTransactions: number;
  completedTransactions: number;
  pendingTransactions: number;
  cancelledTransactions: number;
  avgOrderValue: string;
  topProducts: {
    product: { sku: string; name: string };
    revenue: string;
    unitsSold: number;
    transactionCount: number;
  }[];
  recentTrend: ExpectedPoint[];
}

export interface ExpectedRevenue {
  from: string | null;
  to: string | null;
  granularity: Granularity;
  totalRevenue: string;
  totalTransactions: number;
  avgDailyRevenue: string;
  points: ExpectedPoint[];
}

export interface ExpectedCustomer {
  name: string;
  email: string | null;
  city: string | null;
  lifetimeValue: string;
  transactionCount: number;
  avgOrderValue: string;
  firstPurchaseAt: string | null;
  lastPurchaseAt: string | null;
  favoriteProduct: { sku: string } | null;
}

export interface ExpectedProduct {
  sku: string;
  name: string;
  category: string;
  unitPrice: string;
  revenue: string;
  unitsSold: number;
  transactionCount: number;
  revenueShare: number;
  /** Names of the customers with the most revenue on this product, ties by customer id, at most 20. */
  topCustomerNames: string[];
}

/** Transactions with their calendar day in `zone`; spelled out in every query so none depends on another. */
function localTransactions(zone: string): RawBuilder<unknown> {
  return sql`(SELECT t.*, (t.transaction_date AT TIME ZONE ${zone}::text)::date AS day FROM transactions t)`;
}

const dateOrNull = (value: string | undefined) => sql`${value ?? null}::date`;

/** An average as the contract defines it: round half away from zero to cents, 0.00 when nothing was counted. */
function average(revenue: RawBuilder<unknown>, count: RawBuilder<unknown>): RawBuilder<string> {
  return sql<string>`CASE WHEN ${count} = 0 THEN '0.00' ELSE round(${revenue} / ${count}, 2)::text END`;
}

export async function expectedDashboard(
  db: Db,
  zone: string,
  range: DayRange,
  options: { limit: number; days: number },
): Promise<ExpectedDashboard> {
  const from = dateOrNull(range.from);
  const to = dateOrNull(range.to);
  const completedRevenue = sql`coalesce(sum(amount) FILTER (WHERE status = 'completed'), 0)`;
  const completedCount = sql`count(*) FILTER (WHERE status = 'completed')`;
  const totals = await sql<Omit<ExpectedDashboard, 'topProducts' | 'recentTrend'>>`
    SELECT round(${completedRevenue}, 2)::text AS "totalRevenue",
           count(*)::int AS "totalTransactions",
           (${completedCount})::int AS "completedTransactions",
           (count(*) FILTER (WHERE status = 'pending'))::int AS "pendingTransactions",
           (count(*) FILTER (WHERE status = 'cancelled'))::int AS "cancelledTransactions",
           ${average(completedRevenue, completedCount)} AS "avgOrderValue"
    FROM ${localTransactions(zone)} t
    WHERE (${from} IS NULL OR t.day >= ${from}) AND (${to} IS NULL OR t.day <= ${to})`.execute(db);

  const top = await sql<{ sku: string; name: string; revenue: string; unitsSold: number; transactionCount: number }>`
    SELECT p.sku, p.name, round(sum(t.amount), 2)::text AS revenue,
           sum(t.quantity)::int AS "unitsSold", count(*)::int AS "transactionCount"
    FROM ${localTransactions(zone)} t JOIN products p ON p.id = t.product_id
    WHERE t.status = 'completed' AND (${from} IS NULL OR t.day >= ${from}) AND (${to} IS NULL OR t.day <= ${to})
    GROUP BY p.id, p.sku, p.name
    ORDER BY sum(t.amount) DESC, p.id ASC
    LIMIT ${options.limit}`.execute(db);

  // The trend ends at `to`, or at the last day with a transaction of any status; `from` does not shorten it.
  const trend = await sql<ExpectedPoint>`
    WITH t AS ${localTransactions(zone)},
    trend_days AS (
      SELECT (coalesce(${to}, (SELECT max(day) FROM t)) - back)::date AS day
      FROM generate_series(0, ${options.days}::int - 1) AS back
    )
    SELECT d.day::text AS date,
           round(coalesce(sum(t.amount), 0), 2)::text AS "totalRevenue",
           count(t.id)::int AS "transactionCount",
           ${average(sql`sum(t.amount)`, sql`count(t.id)`)} AS "avgTransactionValue",
           count(DISTINCT t.customer_id)::int AS "uniqueCustomers"
    FROM trend_days d LEFT JOIN t ON t.day = d.day AND t.status = 'completed'
    GROUP BY d.day
    ORDER BY d.day`.execute(db);

  return {
    ...totals.rows[0]!,
    topProducts: top.rows.map(({ sku, name, ...figures }) => ({ product: { sku, name }, ...figures })),
    recentTrend: trend.rows,
  };
}

/** The first day of the bucket holding `day`: itself, the Monday of its week, or the 1st of its month. */
function bucketStart(day: RawBuilder<unknown>, granularity: Granularity): RawBuilder<unknown> {
  switch (granularity) {
    case 'DAY':
      return day;
    case 'WEEK':
      return sql`(${day} - (extract(isodow FROM ${day})::int - 1))`;
    case 'MONTH':
      return sql`make_date(extract(year FROM ${day})::int, extract(month FROM ${day})::int, 1)`;
  }
}

const BUCKET_STEP: Record<Granularity, string> = { DAY: '1 day', WEEK: '7 days', MONTH: '1 month' };

/**
 * Without `from` the series starts at the first day with a transaction (any status), without `to` it ends
 * at the last. The first and last bucket may reach beyond the range; they hold only the range's days.
 */
export async function expectedRevenue(
  db: Db,
  zone: string,
  range: DayRange,
  granularity: Granularity,
): Promise<ExpectedRevenue> {
  const bounds = await sql<{ from: string | null; to: string | null }>`
    SELECT coalesce(${dateOrNull(range.from)}, min(t.day))::text AS "from",
           coalesce(${dateOrNull(range.to)}, max(t.day))::text AS "to"
    FROM ${localTransactions(zone)} t`.execute(db);
  const { from, to } = bounds.rows[0]!;
  if (from === null || to === null) {
    return { from, to, granularity, totalRevenue: '0.00', totalTransactions: 0, avgDailyRevenue: '0.00', points: [] };
  }
  const first = sql`${from}::date`;
  const last = sql`${to}::date`;

  const totals = await sql<{ totalRevenue: string; totalTransactions: number; avgDailyRevenue: string }>`
    SELECT round(coalesce(sum(t.amount), 0), 2)::text AS "totalRevenue",
           count(*)::int AS "totalTransactions",
           round(coalesce(sum(t.amount), 0) / (${last} - ${first} + 1), 2)::text AS "avgDailyRevenue"
    FROM ${localTransactions(zone)} t
    WHERE t.status = 'completed' AND t.day BETWEEN ${first} AND ${last}`.execute(db);

  const points = await sql<ExpectedPoint>`
    WITH sales AS (
      SELECT t.*, ${bucketStart(sql`t.day`, granularity)} AS bucket
      FROM ${localTransactions(zone)} t
      WHERE t.status = 'completed' AND t.day BETWEEN ${first} AND ${last}
    ), buckets AS (
      SELECT b::date AS bucket
      FROM generate_series(${bucketStart(first, granularity)}::timestamp, ${last}::timestamp, ${BUCKET_STEP[granularity]}::interval) AS b
    )
    SELECT b.bucket::text AS date,
           round(coalesce(sum(s.amount), 0), 2)::text AS "totalRevenue",
           count(s.id)::int AS "transactionCount",
           ${average(sql`sum(s.amount)`, sql`count(s.id)`)} AS "avgTransactionValue",
           count(DISTINCT s.customer_id)::int AS "uniqueCustomers"
    FROM buckets b LEFT JOIN sales s ON s.bucket = b.bucket
    GROUP BY b.bucket
    ORDER BY b.bucket`.execute(db);

  return { from, to, granularity, ...totals.rows[0]!, points: points.rows };
}

/** Every customer in the default order: lifetime value descending, ties by customer id ascending. */
export async function expectedCustomers(db: Db): Promise<ExpectedCustomer[]> {
  const { rows } = await sql<Omit<ExpectedCustomer, 'favoriteProduct'> & { favoriteSku: string | null }>`
    WITH sales AS (SELECT * FROM transactions WHERE status = 'completed'),
    per_customer AS (
      SELECT customer_id, sum(amount) AS revenue, count(*) AS n,
             min(transaction_date) AS first_at, max(transaction_date) AS last_at
      FROM sales GROUP BY customer_id
    ),
    favorite AS (
      SELECT customer_id, product_id
      FROM (
        SELECT customer_id, product_id,
               row_number() OVER (PARTITION BY customer_id ORDER BY sum(amount) DESC, product_id ASC) AS place
        FROM sales GROUP BY customer_id, product_id
      ) ranked
      WHERE place = 1
    )
    SELECT c.name, c.email, c.city,
           round(coalesce(pc.revenue, 0), 2)::text AS "lifetimeValue",
           coalesce(pc.n, 0)::int AS "transactionCount",
           ${average(sql`coalesce(pc.revenue, 0)`, sql`coalesce(pc.n, 0)`)} AS "avgOrderValue",
           to_char(pc.first_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "firstPurchaseAt",
           to_char(pc.last_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "lastPurchaseAt",
           p.sku AS "favoriteSku"
    FROM customers c
    LEFT JOIN per_customer pc ON pc.customer_id = c.id
    LEFT JOIN favorite f ON f.customer_id = c.id
    LEFT JOIN products p ON p.id = f.product_id
    ORDER BY coalesce(pc.revenue, 0) DESC, c.id ASC`.execute(db);
  return rows.map(({ favoriteSku, ...customer }) => ({
    ...customer,
    firstPurchaseAt: instant(customer.firstPurchaseAt),
    lastPurchaseAt: instant(customer.lastPurchaseAt),
    favoriteProduct: favoriteSku === null ? null : { sku: favoriteSku },
  }));
}

/** Every product in the default order: revenue descending, ties by product id ascending. */
export async function expectedProducts(db: Db): Promise<ExpectedProduct[]> {
  const { rows } = await sql<Omit<ExpectedProduct, 'topCustomerNames'> & { topCustomerNames: string[] | null }>`
    WITH sales AS (SELECT * FROM transactions WHERE status = 'completed'),
    per_product AS (
      SELECT product_id, sum(amount) AS revenue, sum(quantity) AS units, count(*) AS n FROM sales GROUP BY product_id
    ),
    all_revenue AS (SELECT sum(amount) AS revenue FROM sales),
    per_buyer AS (
      SELECT s.product_id, c.name,
             row_number() OVER (PARTITION BY s.product_id ORDER BY sum(s.amount) DESC, s.customer_id ASC) AS place
      FROM sales s JOIN customers c ON c.id = s.customer_id
      GROUP BY s.product_id, s.customer_id, c.name
    )
    SELECT p.sku, p.name, p.category, round(p.unit_price, 2)::text AS "unitPrice",
           round(coalesce(pp.revenue, 0), 2)::text AS revenue,
           coalesce(pp.units, 0)::int AS "unitsSold",
           coalesce(pp.n, 0)::int AS "transactionCount",
           CASE WHEN coalesce(a.revenue, 0) = 0 THEN 0 ELSE (coalesce(pp.revenue, 0) / a.revenue)::float8 END AS "revenueShare",
           (SELECT array_agg(b.name ORDER BY b.place) FROM per_buyer b WHERE b.product_id = p.id AND b.place <= 20)
             AS "topCustomerNames"
    FROM products p
    LEFT JOIN per_product pp ON pp.product_id = p.id
    CROSS JOIN all_revenue a
    ORDER BY coalesce(pp.revenue, 0) DESC, p.id ASC`.execute(db);
  return rows.map((row) => ({ ...row, topCustomerNames: row.topCustomerNames ?? [] }));
}

/** An ISO 8601 instant, normalised to milliseconds so that equal instants compare equal as text. */
export function instant(value: string | null): string | null {
  return value === null ? null : new Date(value).toISOString();
}

// Served values in the shape of the expected ones. Global ids are opaque, so customers are matched by name
// and products by SKU (both unique in the test data).

export function servedCustomer({
  id: _id,
  __typename: _typename,
  ...customer
}: CorrectnessCustomerFragment & { __typename?: string }): ExpectedCustomer {
  return {
    ...customer,
    firstPurchaseAt: instant(customer.firstPurchaseAt),
    lastPurchaseAt: instant(customer.lastPurchaseAt),
  };
}

/** Money and counts exactly, revenueShare within 1e-12, topCustomers at the default limit (3) and at 20. */
export function expectProduct(
  served: CorrectnessProductFragment & { __typename?: string },
  expected: ExpectedProduct,
): void {
  const { id: _id, __typename: _typename, revenueShare, topCustomers, topTwenty, ...figures } = served;
  const { revenueShare: expectedShare, topCustomerNames, ...expectedFigures } = expected;
  expect(figures, expected.sku).toEqual(expectedFigures);
  expect(
    Math.abs(revenueShare - expectedShare),
    `${expected.sku} revenueShare ${revenueShare} vs ${expectedShare}`,
  ).toBeLessThanOrEqual(1e-12);
  expect(
    topCustomers!.map((c) => c.name),
    `${expected.sku} topCustomers`,
  ).toEqual(topCustomerNames.slice(0, 3));
  expect(
    topTwenty!.map((c) => c.name),
    `${expected.sku} topCustomers(limit: 20)`,
  ).toEqual(topCustomerNames.slice(0, 20));
}

/** A readable test name for a day range. */
export function describeRange({ from, to }: DayRange): string {
  if (from && to) return from === to ? `on ${from}` : `from ${from} to ${to}`;
  if (from) return `from ${from} on`;
  if (to) return `up to ${to}`;
  return 'over all days';
}
