import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import type { DayRange } from '../../graphql/validate.js';

export interface DashboardTotalsRecord {
  totalRevenue: string;
  totalTransactions: number;
  completedTransactions: number;
  pendingTransactions: number;
  cancelledTransactions: number;
  avgOrderValue: string;
}

/** Revenue and counts per status over the report days of `range` (open ends mean all data). */
export async function readDashboardTotals(db: Kysely<Database>, range: DayRange): Promise<DashboardTotalsRecord> {
  const { rows } = await sql<DashboardTotalsRecord>`
    /* dashboard.totals */
    SELECT round(coalesce(sum(revenue), 0), 2)::text AS "totalRevenue",
           coalesce(sum(all_count), 0)::int AS "totalTransactions",
           coalesce(sum(transaction_count), 0)::int AS "completedTransactions",
           coalesce(sum(pending_count), 0)::int AS "pendingTransactions",
           coalesce(sum(cancelled_count), 0)::int AS "cancelledTransactions",
           mp_average(coalesce(sum(revenue), 0), coalesce(sum(transaction_count), 0)::bigint)::text AS "avgOrderValue"
    FROM v_daily_revenue
    WHERE (${range.from ?? null}::date IS NULL OR day >= ${range.from ?? null}::date)
      AND (${range.to ?? null}::date IS NULL OR day <= ${range.to ?? null}::date)`.execute(db);
  return rows[0]!;
}

export interface ProductRevenueRecord {
  productId: string;
  revenue: string;
  unitsSold: number;
  transactionCount: number;
}

/** The `limit` products with the most completed revenue in `range`, ties by product id ascending. */
export async function findTopProducts(db: Kysely<Database>, range: DayRange, limit: number): Promise<ProductRevenueRecord[]> {
  const { rows } = await sql<ProductRevenueRecord>`
    /* dashboard.top_products */
    SELECT product_id::text AS "productId",
           round(sum(amount), 2)::text AS revenue,
           sum(quantity)::int AS "unitsSold",
           count(*)::int AS "transactionCount"
    FROM v_sales
    WHERE (${range.from ?? null}::date IS NULL OR transaction_date >= mp_day_start(${range.from ?? null}::date))
      AND (${range.to ?? null}::date IS NULL OR transaction_date < mp_day_start(${range.to ?? null}::date + 1))
    GROUP BY product_id
    ORDER BY sum(amount) DESC, product_id ASC
    LIMIT ${limit}`.execute(db);
  return rows;
}
