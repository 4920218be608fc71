import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import type { DayRange } from '../../db/day-range.js';
import type { ProductRecord } from '../products/product.service.js';

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
  /** The product's own row, read in the same statement so the request's product loader can be primed with it. */
  product: ProductRecord;
}

interface TopProductRow {
  productId: string;
  revenue: string;
  unitsSold: number;
  transactionCount: number;
  sku: string;
  name: string;
  category: string;
  unitPrice: string;
  productRevenue: string;
  productUnitsSold: number;
  productTransactionCount: number;
  revenueShare: number;
}

/** The `limit` products with the most completed revenue in `range`, ties by product id ascending. */
export async function findTopProducts(db: Kysely<Database>, range: DayRange, limit: number): Promise<ProductRevenueRecord[]> {
  // All time is what the product rollup already holds; a range adds up the days it covers.
  const ranked =
    range.from === undefined && range.to === undefined
      ? sql`SELECT product_id, revenue, units_sold AS units, transaction_count AS n
            FROM v_product_performance
            WHERE transaction_count > 0
            ORDER BY v_product_performance.revenue DESC, product_id ASC
            LIMIT ${limit}`
      : sql`SELECT product_id, sum(revenue) AS revenue, sum(units_sold) AS units, sum(transaction_count) AS n
            FROM v_daily_product_sales
            WHERE (${range.from ?? null}::date IS NULL OR day >= ${range.from ?? null}::date)
              AND (${range.to ?? null}::date IS NULL OR day <= ${range.to ?? null}::date)
            GROUP BY product_id
            ORDER BY sum(revenue) DESC, product_id ASC
            LIMIT ${limit}`;
  const { rows } = await sql<TopProductRow>`
    /* dashboard.top_products */
    SELECT top.product_id::text AS "productId",
           round(top.revenue, 2)::text AS revenue,
           top.units::int AS "unitsSold",
           top.n::int AS "transactionCount",
           p.sku, p.name, p.category,
           round(p.unit_price, 2)::text AS "unitPrice",
           round(p.revenue, 2)::text AS "productRevenue",
           p.units_sold::int AS "productUnitsSold",
           p.transaction_count::int AS "productTransactionCount",
           p.revenue_share AS "revenueShare"
    FROM (${ranked}) top
    JOIN v_product_performance p ON p.product_id = top.product_id
    ORDER BY top.revenue DESC, top.product_id ASC`.execute(db);
  return rows.map((row) => ({
    productId: row.productId,
    revenue: row.revenue,
    unitsSold: row.unitsSold,
    transactionCount: row.transactionCount,
    product: {
      id: row.productId,
      sku: row.sku,
      name: row.name,
      category: row.category,
      unitPrice: row.unitPrice,
      revenue: row.productRevenue,
      unitsSold: row.productUnitsSold,
      transactionCount: row.productTransactionCount,
      revenueShare: row.revenueShare,
    },
  }));
}
