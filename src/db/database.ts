import type { SelectType } from 'kysely';
import type { DB } from './generated/database.js';

// The Database interface Kysely checks queries against: the one generated from the migrated schema
// (generated/database.ts, `npm run db:types`), with what PostgreSQL cannot tell its catalogue added here.
// Both lists are checked against the generated interface: a column that is renamed or dropped fails the
// typecheck here, as it does in every query that names it.

/**
 * View columns that always hold a value. PostgreSQL reports every column of a view as nullable; these come
 * from NOT NULL columns of the tables the view reads (joined on NOT NULL keys) or from expressions that cannot
 * be null (mp_average, CASE with a value in every branch, a comparison of NOT NULL columns). A column not
 * listed stays nullable: email and city (nullable in customers), first and last purchase (none yet).
 */
interface NeverNullViewColumns {
  v_transactions_local:
    'id' | 'customer_id' | 'product_id' | 'quantity' | 'amount' | 'status' | 'transaction_date' | 'day' | 'is_revenue';
  v_sales: 'id' | 'customer_id' | 'product_id' | 'quantity' | 'amount' | 'transaction_date' | 'day';
  v_daily_revenue:
    'day' | 'revenue' | 'transaction_count' | 'unique_customers' | 'pending_count' | 'cancelled_count' | 'all_count';
  v_daily_product_sales: 'day' | 'product_id' | 'revenue' | 'units_sold' | 'transaction_count';
  v_period_customers: 'granularity' | 'period' | 'unique_customers';
  v_customer_analytics:
    'customer_id' | 'name' | 'created_at' | 'lifetime_value' | 'transaction_count' | 'avg_order_value';
  v_product_performance:
    | 'product_id'
    | 'sku'
    | 'name'
    | 'category'
    | 'unit_price'
    | 'revenue'
    | 'units_sold'
    | 'transaction_count'
    | 'revenue_share';
  v_customer_product_revenue: 'customer_id' | 'product_id' | 'revenue' | 'units_sold' | 'transaction_count';
  v_customer_favorite_product: 'customer_id' | 'product_id' | 'revenue';
}

export type TransactionStatus = 'completed' | 'pending' | 'cancelled';
export type PrincipalRole = 'viewer' | 'analyst' | 'admin';
export type PeriodGranularity = 'week' | 'month';

/** Text columns whose CHECK constraint (or the view's source column's) allows only these values. */
interface CheckedTextColumns {
  transactions: { status: TransactionStatus };
  v_transactions_local: { status: TransactionStatus };
  api_keys: { role: PrincipalRole };
  audit_log: { role: PrincipalRole };
  rollup_customer_period: { granularity: PeriodGranularity };
  rollup_period: { granularity: PeriodGranularity };
  v_period_customers: { granularity: PeriodGranularity };
}

// The checks: every table and column named above exists, and every narrowed type fits the generated one.
type ColumnsOf<T> = { [K in keyof T]: K extends keyof DB ? keyof DB[K] : never };
type NarrowingsOf<T> = {
  [K in keyof T]: K extends keyof DB
    ? { [C in keyof T[K]]: C extends keyof DB[K] ? SelectType<DB[K][C]> : never }
    : never;
};
type Checked<T extends Base, Base> = T;
type NeverNull = Checked<NeverNullViewColumns, ColumnsOf<NeverNullViewColumns>>;
type Narrowed = Checked<CheckedTextColumns, NarrowingsOf<CheckedTextColumns>>;

type Refine<Table, Name extends keyof DB> = {
  [C in keyof Table]: Name extends keyof Narrowed
    ? C extends keyof Narrowed[Name]
      ? Narrowed[Name][C]
      : RefineNull<Table, Name, C>
    : RefineNull<Table, Name, C>;
};
type RefineNull<Table, Name, C extends keyof Table> = Name extends keyof NeverNull
  ? C extends NeverNull[Name]
    ? NonNullable<Table[C]>
    : Table[C]
  : Table[C];

export type Database = { [Name in keyof DB]: Refine<DB[Name], Name> };
