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
  // All time is what the product rollup already holds; a range adds up the days it covers.
  const { rows } =
    range.from === undefined && range.to === undefined
      ? await sql<ProductRevenueRecord>`
          /* dashboard.top_products_all_time */
          SELECT product_id::text AS "productId",
                 round(revenue, 2)::text AS revenue,
                 units_sold::int AS "unitsSold",
                 transaction_count::int AS "transactionCount"
          FROM v_product_performance
          WHERE transaction_count > 0
          ORDER BY v_product_performance.revenue DESC, product_id ASC
          LIMIT ${limit}`.execute(db)
      : await sql<ProductRevenueRecord>`
          /* dashboard.top_products */
          SELECT product_id::text AS "productId",
                 round(sum(revenue), 2)::text AS revenue,
                 sum(units_sold)::int AS "unitsSold",
                 sum(transaction_count)::int AS "transactionCount"
          FROM v_daily_product_sales
          WHERE (${range.from ?? null}::date IS NULL OR day >= ${range.from ?? null}::date)
            AND (${range.to ?? null}::date IS NULL OR day <= ${range.to ?? null}::date)
          GROUP BY product_id
          ORDER BY sum(revenue) DESC, product_id ASC
          LIMIT ${limit}`.execute(db);
  return rows;
}
