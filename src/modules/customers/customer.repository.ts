import { sql, type ExpressionBuilder, type Kysely } from 'kysely';
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
import { asInt, asIsoUtc, asMoney } from '../../db/sql-helpers.js';

export interface CustomerRecord {
  id: string;
  name: string;
  email: string | null;
  city: string | null;
  lifetimeValue: string;
  transactionCount: number;
  avgOrderValue: string;
  firstPurchaseAt: string | null;
  lastPurchaseAt: string | null;
}

export type CustomerSortField = 'LIFETIME_VALUE' | 'TRANSACTION_COUNT' | 'LAST_PURCHASE_AT' | 'NAME';

const SORT_COLUMNS: Record<
  CustomerSortField,
  { column: ColumnOf<'v_customer_analytics', false>; nullable: boolean; valueType: SortValueType }
> = {
  LIFETIME_VALUE: { column: 'lifetime_value', nullable: false, valueType: 'numeric' },
  TRANSACTION_COUNT: { column: 'transaction_count', nullable: false, valueType: 'bigint' },
  LAST_PURCHASE_AT: { column: 'last_purchase_at', nullable: true, valueType: 'timestamptz' },
  NAME: { column: 'name', nullable: false, valueType: 'text' },
};

export type CustomerOrder = KeysetOrder<ColumnOf<'v_customer_analytics'>>;

export function customerOrder(field: CustomerSortField, direction: 'asc' | 'desc'): CustomerOrder {
  // Qualified, so ORDER BY reads the view's column and not the formatted output column of the same name.
  const { column, ...shape } = SORT_COLUMNS[field];
  return {
    column: `v_customer_analytics.${column}`,
    ...shape,
    direction,
    idColumn: 'v_customer_analytics.customer_id',
  };
}

function selectCustomers(db: Kysely<Database>) {
  return db
    .selectFrom('v_customer_analytics')
    .select((eb) => [
      eb.cast<string>('customer_id', 'text').as('id'),
      'name',
      'email',
      'city',
      asMoney(eb.ref('lifetime_value')).as('lifetimeValue'),
      asInt(eb.ref('transaction_count')).as('transactionCount'),
      asMoney(eb.ref('avg_order_value')).as('avgOrderValue'),
      asIsoUtc(eb.ref('first_purchase_at')).as('firstPurchaseAt'),
      asIsoUtc(eb.ref('last_purchase_at')).as('lastPurchaseAt'),
    ]);
}

export async function findCustomersByIds(db: Kysely<Database>, ids: readonly string[]): Promise<CustomerRecord[]> {
  if (ids.length === 0) return [];
  return selectCustomers(db)
    .where('customer_id', 'in', [...ids])
    .execute();
}

export interface CustomerFilter {
  /** Case-insensitive substring of the name, matched literally (no wildcards). */
  search?: string | null;
}

// strpos matches the text literally, so "%" and "_" in a search are just characters.
function nameContains(eb: ExpressionBuilder<Database, 'customers' | 'v_customer_analytics'>, search: string) {
  return eb(eb.fn<number>('strpos', [eb.fn('lower', ['name']), eb.fn('lower', [eb.val(search)])]), '>', sql.lit(0));
}

export async function findCustomerPage(
  db: Kysely<Database>,
  filter: CustomerFilter,
  order: CustomerOrder,
  window: KeysetWindow & { limit: number },
): Promise<(CustomerRecord & { sortKey: string | null })[]> {
  const where = keysetWhere(order, window);
  return selectCustomers(db)
    .select(keysetValue(order).as('sortKey'))
    .$if(Boolean(filter.search), (qb) => qb.where((eb) => nameContains(eb, filter.search!)))
    .$if(where !== undefined, (qb) => qb.where(where!))
    .orderBy(keysetOrderBy(order, window.backward))
    .limit(window.limit + 1)
    .execute();
}

export async function countCustomers(db: Kysely<Database>, filter: CustomerFilter): Promise<number> {
  const row = await db
    .selectFrom('customers')
    .select((eb) => asInt(eb.fn.countAll()).as('count'))
    .$if(Boolean(filter.search), (qb) => qb.where((eb) => nameContains(eb, filter.search!)))
    .executeTakeFirstOrThrow();
  return row.count;
}

/** Each customer's favourite product: the most revenue from that customer, ties by product id ascending. */
export async function findFavoriteProductIds(
  db: Kysely<Database>,
  customerIds: readonly string[],
): Promise<{ customerId: string; productId: string }[]> {
  if (customerIds.length === 0) return [];
  return db
    .selectFrom('v_customer_favorite_product')
    .select((eb) => [
      eb.cast<string>('customer_id', 'text').as('customerId'),
      eb.cast<string>('product_id', 'text').as('productId'),
    ])
    .where('customer_id', 'in', [...customerIds])
    .execute();
}
