import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database } from '../../db/database.js';
import {
  keysetOrderBy,
  keysetValue,
  keysetWhere,
  type ColumnOf,
  type KeysetOrder,
  type KeysetWindow,
  type SortValueType,
} from '../../db/keyset.js';
import { asInt, asMoney } from '../../db/sql-helpers.js';

export interface ProductRecord {
  id: string;
  sku: string;
  name: string;
  category: string;
  unitPrice: string;
  revenue: string;
  unitsSold: number;
  transactionCount: number;
  revenueShare: number;
}

export type ProductSortField = 'REVENUE' | 'UNITS_SOLD' | 'NAME';

const SORT_COLUMNS: Record<
  ProductSortField,
  { column: ColumnOf<'v_product_performance', false>; nullable: boolean; valueType: SortValueType }
> = {
  REVENUE: { column: 'revenue', nullable: false, valueType: 'numeric' },
  UNITS_SOLD: { column: 'units_sold', nullable: false, valueType: 'bigint' },
  NAME: { column: 'name', nullable: false, valueType: 'text' },
};

export type ProductOrder = KeysetOrder<ColumnOf<'v_product_performance'>>;

export function productOrder(field: ProductSortField, direction: 'asc' | 'desc'): ProductOrder {
  // Qualified, so ORDER BY reads the view's column and not the formatted output column of the same name.
  const { column, ...shape } = SORT_COLUMNS[field];
  return {
    column: `v_product_performance.${column}`,
    ...shape,
    direction,
    idColumn: 'v_product_performance.product_id',
  };
}

function selectProducts(db: Kysely<Database>) {
  return db
    .selectFrom('v_product_performance')
    .select((eb) => [
      eb.cast<string>('product_id', 'text').as('id'),
      'sku',
      'name',
      'category',
      asMoney(eb.ref('unit_price')).as('unitPrice'),
      asMoney(eb.ref('revenue')).as('revenue'),
      asInt(eb.ref('units_sold')).as('unitsSold'),
      asInt(eb.ref('transaction_count')).as('transactionCount'),
      'revenue_share as revenueShare',
    ]);
}

export async function findProductsByIds(db: Kysely<Database>, ids: readonly string[]): Promise<ProductRecord[]> {
  if (ids.length === 0) return [];
  return selectProducts(db)
    .where('product_id', 'in', [...ids])
    .execute();
}

export interface ProductFilter {
  category?: string | null;
}

export async function findProductPage(
  db: Kysely<Database>,
  filter: ProductFilter,
  order: ProductOrder,
  window: KeysetWindow & { limit: number },
): Promise<(ProductRecord & { sortKey: string | null })[]> {
  const where = keysetWhere(order, window);
  return selectProducts(db)
    .select(keysetValue(order).as('sortKey'))
    .$if(filter.category != null, (qb) => qb.where('category', '=', filter.category!))
    .$if(where !== undefined, (qb) => qb.where(where!))
    .orderBy(keysetOrderBy(order, window.backward))
    .limit(window.limit + 1)
    .execute();
}

export async function countProducts(db: Kysely<Database>, filter: ProductFilter): Promise<number> {
  const row = await db
    .selectFrom('products')
    .select((eb) => asInt(eb.fn.countAll()).as('count'))
    .$if(filter.category != null, (qb) => qb.where('category', '=', filter.category!))
    .executeTakeFirstOrThrow();
  return row.count;
}

type CustomerProductRevenue = Selectable<Database['v_customer_product_revenue']>;
type TopCustomerRow = {
  productId: CustomerProductRevenue['product_id'];
  customerId: CustomerProductRevenue['customer_id'];
};

/** The `limit` customers with the most revenue on each product, ties by customer id ascending. */
export async function findTopCustomerIds(
  db: Kysely<Database>,
  productIds: readonly string[],
  limit: number,
): Promise<{ productId: string; customerId: string }[]> {
  if (productIds.length === 0) return [];
  // A LATERAL top-N per product walks the (product_id, revenue DESC, customer_id) index a few entries deep,
  // instead of ranking every customer of every product on the page. SQL, since the builder's spelling of
  // unnest WITH ORDINALITY and CROSS JOIN LATERAL would hide the shape that makes it fast.
  const ids = `{${productIds.join(',')}}`;
  const { rows } = await sql<TopCustomerRow>`
    /* products.top_customers */
    SELECT p.id::text AS "productId", top.customer_id::text AS "customerId"
    FROM unnest(${ids}::bigint[]) WITH ORDINALITY AS p(id, ord)
    CROSS JOIN LATERAL (
      SELECT r.customer_id, r.revenue
      FROM v_customer_product_revenue r
      WHERE r.product_id = p.id
      ORDER BY r.revenue DESC, r.customer_id ASC
      LIMIT ${limit}
    ) top
    ORDER BY p.ord, top.revenue DESC, top.customer_id ASC`.execute(db);
  return rows;
}
