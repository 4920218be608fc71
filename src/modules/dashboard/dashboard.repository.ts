import { sql, type AliasedSelectQueryBuilder, type ExpressionBuilder, type Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import { asAverage, asInt, asMoney, statementLabel } from '../../db/sql-helpers.js';
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
  return (
    db
      .selectFrom('v_daily_revenue')
      .modifyFront(statementLabel('dashboard.totals'))
      .select((eb) => {
        const total = (column: 'revenue' | 'all_count' | 'transaction_count' | 'pending_count' | 'cancelled_count') =>
          eb.fn.coalesce(eb.fn.sum<string>(column), sql.lit(0));
        return [
          asMoney(total('revenue')).as('totalRevenue'),
          asInt(total('all_count')).as('totalTransactions'),
          asInt(total('transaction_count')).as('completedTransactions'),
          asInt(total('pending_count')).as('pendingTransactions'),
          asInt(total('cancelled_count')).as('cancelledTransactions'),
          asAverage(total('revenue'), eb.cast(total('transaction_count'), 'bigint')).as('avgOrderValue'),
        ];
      })
      // Open ends are infinite dates rather than left out: one statement for every range, and one with parameters,
      // which is what carries the request id to PostgreSQL (statement-runner.ts).
      .where((eb) => eb.between('day', range.from ?? '-infinity', range.to ?? 'infinity'))
      .executeTakeFirstOrThrow()
  );
}

export interface ProductRevenueRecord {
  productId: string;
  revenue: string;
  unitsSold: number;
  transactionCount: number;
  /** The product's own row, read in the same statement so the request's product loader can be primed with it. */
  product: ProductRecord;
}

/** A product's figures over the range ranked on: all time from its rollup, or the days the range covers. */
interface RankedProduct {
  product_id: string;
  revenue: string;
  units: string;
  n: string;
}

// Built on the statement's expression builder, so it becomes part of the statement rather than a query of its own.
function rankProducts(
  eb: ExpressionBuilder<Database, never>,
  range: DayRange,
  limit: number,
): AliasedSelectQueryBuilder<RankedProduct, 'top'> {
  if (range.from === undefined && range.to === undefined) {
    // All time is what the product rollup already holds.
    return eb
      .selectFrom('v_product_performance')
      .select(['product_id', 'revenue', 'units_sold as units', 'transaction_count as n'])
      .where('transaction_count', '>', sql<string>`0`)
      .orderBy('v_product_performance.revenue', 'desc')
      .orderBy('product_id', 'asc')
      .limit(limit)
      .as('top');
  }
  return eb
    .selectFrom('v_daily_product_sales')
    .select((agg) => [
      'product_id',
      agg.fn.sum<string>('revenue').as('revenue'),
      agg.fn.sum<string>('units_sold').as('units'),
      agg.fn.sum<string>('transaction_count').as('n'),
    ])
    .$if(range.from !== undefined, (qb) => qb.where('day', '>=', range.from!))
    .$if(range.to !== undefined, (qb) => qb.where('day', '<=', range.to!))
    .groupBy('product_id')
    .orderBy((agg) => agg.fn.sum('revenue'), 'desc')
    .orderBy('product_id', 'asc')
    .limit(limit)
    .as('top');
}

/** The `limit` products with the most completed revenue in `range`, ties by product id ascending. */
export async function findTopProducts(
  db: Kysely<Database>,
  range: DayRange,
  limit: number,
): Promise<ProductRevenueRecord[]> {
  const rows = await db
    .selectFrom((eb) => rankProducts(eb, range, limit))
    .innerJoin('v_product_performance as p', 'p.product_id', 'top.product_id')
    .modifyFront(statementLabel('dashboard.top_products'))
    .select((eb) => [
      eb.cast<string>('top.product_id', 'text').as('productId'),
      asMoney(eb.ref('top.revenue')).as('revenue'),
      asInt(eb.ref('top.units')).as('unitsSold'),
      asInt(eb.ref('top.n')).as('transactionCount'),
      'p.sku',
      'p.name',
      'p.category',
      asMoney(eb.ref('p.unit_price')).as('unitPrice'),
      asMoney(eb.ref('p.revenue')).as('productRevenue'),
      asInt(eb.ref('p.units_sold')).as('productUnitsSold'),
      asInt(eb.ref('p.transaction_count')).as('productTransactionCount'),
      'p.revenue_share as revenueShare',
    ])
    .orderBy('top.revenue', 'desc')
    .orderBy('top.product_id', 'asc')
    .execute();
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
