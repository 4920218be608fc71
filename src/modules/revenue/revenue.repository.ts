import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/database.js';

// Revenue over report days. Day bounds become instants with mp_day_start so that the time index on
// transactions serves every range, whatever REPORT_TIMEZONE is.

export interface RevenuePointRecord {
  date: string;
  totalRevenue: string;
  transactionCount: number;
  avgTransactionValue: string;
  uniqueCustomers: number;
}

export type BucketUnit = 'day' | 'week' | 'month';

export interface DataBounds {
  firstDay: string | null;
  lastDay: string | null;
}

/** First and last report day that has any transaction (any status); nulls when there are none. */
export async function readDataBounds(db: Kysely<Database>): Promise<DataBounds> {
  const { rows } = await sql<DataBounds>`
    /* revenue.bounds */
    SELECT mp_local_day(min(transaction_date))::text AS "firstDay", mp_local_day(max(transaction_date))::text AS "lastDay"
    FROM v_transactions_local`.execute(db);
  return rows[0] ?? { firstDay: null, lastDay: null };
}

/** One zero-filled point per bucket from the bucket holding `from` to the one holding `to`. */
export async function readRevenuePoints(
  db: Kysely<Database>,
  range: { from: string; to: string },
  unit: BucketUnit,
): Promise<RevenuePointRecord[]> {
  const { rows } = await sql<RevenuePointRecord>`
    /* revenue.points */
    WITH buckets AS (
      SELECT b::date AS bucket
      FROM generate_series(date_trunc(${unit}, ${range.from}::date::timestamp), ${range.to}::date::timestamp, ${`1 ${unit}`}::interval) AS b
    ), agg AS (
      SELECT date_trunc(${unit}, day::timestamp)::date AS bucket,
             sum(amount) AS revenue, count(*) AS n, count(DISTINCT customer_id) AS customers
      FROM v_sales
      WHERE transaction_date >= mp_day_start(${range.from}::date) AND transaction_date < mp_day_start(${range.to}::date + 1)
      GROUP BY 1
    )
    SELECT buckets.bucket::text AS "date",
           round(coalesce(agg.revenue, 0), 2)::text AS "totalRevenue",
           coalesce(agg.n, 0)::int AS "transactionCount",
           mp_average(coalesce(agg.revenue, 0), coalesce(agg.n, 0))::text AS "avgTransactionValue",
           coalesce(agg.customers, 0)::int AS "uniqueCustomers"
    FROM buckets LEFT JOIN agg USING (bucket)
    ORDER BY buckets.bucket`.execute(db);
  return rows;
}

export interface RevenueTotalsRecord {
  totalRevenue: string;
  totalTransactions: number;
  avgDailyRevenue: string;
}

/** Completed revenue and count over the days `from`..`to`, and revenue per calendar day of that range. */
export async function readRevenueTotals(db: Kysely<Database>, range: { from: string; to: string }): Promise<RevenueTotalsRecord> {
  const { rows } = await sql<RevenueTotalsRecord>`
    /* revenue.totals */
    SELECT round(coalesce(sum(amount), 0), 2)::text AS "totalRevenue",
           count(*)::int AS "totalTransactions",
           mp_average(coalesce(sum(amount), 0), ${range.to}::date - ${range.from}::date + 1)::text AS "avgDailyRevenue"
    FROM v_sales
    WHERE transaction_date >= mp_day_start(${range.from}::date) AND transaction_date < mp_day_start(${range.to}::date + 1)`.execute(db);
  return rows[0]!;
}

/**
 * Exactly `days` daily points ending at `end`, or at the last day that has a transaction when `end` is
 * absent (today, when there are no transactions at all).
 */
export async function readRevenueTrend(db: Kysely<Database>, end: string | undefined, days: number): Promise<RevenuePointRecord[]> {
  const { rows } = await sql<RevenuePointRecord>`
    /* revenue.trend */
    WITH last AS (
      SELECT coalesce(${end ?? null}::date, (SELECT mp_local_day(max(transaction_date)) FROM v_transactions_local), mp_local_day(now())) AS day
    ), days AS (
      SELECT (last.day - back)::date AS day FROM last, generate_series(${days}::int - 1, 0, -1) AS back
    )
    SELECT days.day::text AS "date",
           round(coalesce(r.revenue, 0), 2)::text AS "totalRevenue",
           coalesce(r.transaction_count, 0)::int AS "transactionCount",
           mp_average(coalesce(r.revenue, 0), coalesce(r.transaction_count, 0))::text AS "avgTransactionValue",
           coalesce(r.unique_customers, 0)::int AS "uniqueCustomers"
    FROM days LEFT JOIN v_daily_revenue r ON r.day = days.day
    ORDER BY days.day`.execute(db);
  return rows;
}
