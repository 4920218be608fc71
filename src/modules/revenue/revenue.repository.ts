import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database } from '../../db/database.js';
import { asAverage, asInt, asMoney, statementLabel } from '../../db/sql-helpers.js';

// Revenue over report days, read from the daily rollup (v_daily_revenue): a range of days costs the same
// however many transactions it holds.

type DailyRevenue = Selectable<Database['v_daily_revenue']>;

// readRevenuePoints and readRevenueTrend stay SQL: a zero-filled generate_series joined to the rollup reads
// plainer than the builder's spelling of it. Their rows are still tied to the view: a report day is its `day`.
export interface RevenuePointRecord {
  date: DailyRevenue['day'];
  totalRevenue: string;
  transactionCount: number;
  avgTransactionValue: string;
  uniqueCustomers: number;
}

export type BucketUnit = 'day' | 'week' | 'month';

export interface DataBounds {
  firstDay: DailyRevenue['day'] | null;
  lastDay: DailyRevenue['day'] | null;
}

/** First and last report day that has any transaction (any status); nulls when there are none. */
export async function readDataBounds(db: Kysely<Database>): Promise<DataBounds> {
  return (
    db
      .selectFrom('v_daily_revenue')
      .modifyFront(statementLabel('revenue.bounds'))
      // Report days are kept as the text PostgreSQL prints (YYYY-MM-DD); min and max are null over no rows.
      .select((eb) => [
        eb.fn.min<DailyRevenue['day'] | null>('day').as('firstDay'),
        eb.fn.max<DailyRevenue['day'] | null>('day').as('lastDay'),
      ])
      .executeTakeFirstOrThrow()
  );
}

/**
 * One zero-filled point per bucket from the bucket holding `from` to the one holding `to`. Distinct customers
 * do not add up across days: a day, and a week or month the range covers whole, take their own count; an
 * edge bucket the range covers in part counts the customers of its days in the range (an index range scan).
 */
export async function readRevenuePoints(
  db: Kysely<Database>,
  range: { from: string; to: string },
  unit: BucketUnit,
): Promise<RevenuePointRecord[]> {
  const step = `1 ${unit}`;
  const { rows } = await sql<RevenuePointRecord>`
    /* revenue.points */
    WITH buckets AS (
      SELECT b::date AS bucket,
             greatest(b::date, ${range.from}::date) AS lo,
             least((b + ${step}::interval)::date - 1, ${range.to}::date) AS hi,
             (b + ${step}::interval)::date - 1 AS last_day
      FROM generate_series(date_trunc(${unit}, ${range.from}::date::timestamp), ${range.to}::date::timestamp, ${step}::interval) AS b
    ), agg AS (
      SELECT date_trunc(${unit}, day::timestamp)::date AS bucket, sum(revenue) AS revenue, sum(transaction_count) AS n,
             sum(unique_customers) AS day_customers
      FROM v_daily_revenue
      WHERE day BETWEEN ${range.from}::date AND ${range.to}::date
      GROUP BY 1
    )
    SELECT b.bucket::text AS "date",
           round(coalesce(a.revenue, 0), 2)::text AS "totalRevenue",
           coalesce(a.n, 0)::int AS "transactionCount",
           mp_average(coalesce(a.revenue, 0), coalesce(a.n, 0)::bigint)::text AS "avgTransactionValue",
           (CASE WHEN ${unit} = 'day' THEN coalesce(a.day_customers, 0)
                 WHEN b.lo = b.bucket AND b.hi = b.last_day
                 THEN coalesce((SELECT p.unique_customers FROM v_period_customers p WHERE p.granularity = ${unit} AND p.period = b.bucket), 0)
                 ELSE (SELECT count(DISTINCT s.customer_id) FROM v_sales s
                       WHERE s.transaction_date >= mp_day_start(b.lo) AND s.transaction_date < mp_day_start(b.hi + 1))
            END)::int AS "uniqueCustomers"
    FROM buckets b
    LEFT JOIN agg a ON a.bucket = b.bucket
    ORDER BY b.bucket`.execute(db);
  return rows;
}

export interface RevenueTotalsRecord {
  totalRevenue: string;
  totalTransactions: number;
  avgDailyRevenue: string;
}

/** Completed revenue and count over the days `from`..`to`, and revenue per calendar day of that range. */
export async function readRevenueTotals(
  db: Kysely<Database>,
  range: { from: string; to: string },
): Promise<RevenueTotalsRecord> {
  const calendarDays = sql<number>`${range.to}::date - ${range.from}::date + 1`;
  return db
    .selectFrom('v_daily_revenue')
    .modifyFront(statementLabel('revenue.totals'))
    .select((eb) => {
      const revenue = eb.fn.coalesce(eb.fn.sum<string>('revenue'), sql.lit(0));
      return [
        asMoney(revenue).as('totalRevenue'),
        asInt(eb.fn.coalesce(eb.fn.sum<string>('transaction_count'), sql.lit(0))).as('totalTransactions'),
        asAverage(revenue, calendarDays).as('avgDailyRevenue'),
      ];
    })
    .where((eb) => eb.between('day', range.from, range.to))
    .executeTakeFirstOrThrow();
}

/**
 * Exactly `days` daily points ending at `end`, or at the last day that has a transaction when `end` is
 * absent (today, when there are no transactions at all).
 */
export async function readRevenueTrend(
  db: Kysely<Database>,
  end: string | undefined,
  days: number,
): Promise<RevenuePointRecord[]> {
  const { rows } = await sql<RevenuePointRecord>`
    /* revenue.trend */
    WITH last AS (
      SELECT coalesce(${end ?? null}::date, (SELECT max(day) FROM v_daily_revenue), mp_local_day(now())) AS day
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
