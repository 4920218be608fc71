import type { ColumnType, Selectable } from 'kysely';

// Drivers are configured (see create-database.ts) to hand back int8, numeric and date values as the
// strings PostgreSQL printed, so ids and money never pass through a JavaScript float.
type Int8 = ColumnType<string, string | number | bigint, string | number | bigint>;
type Numeric = ColumnType<string, string, string>;
type Timestamptz = ColumnType<string, string | Date, string | Date>;

export interface CustomerTable {
  id: Int8;
  name: string;
  email: string | null;
  city: string | null;
  created_at: Timestamptz;
}

export interface ProductTable {
  id: Int8;
  sku: string;
  name: string;
  category: string;
  unit_price: Numeric;
}

export type TransactionStatus = 'completed' | 'pending' | 'cancelled';

export interface TransactionTable {
  id: Int8;
  customer_id: Int8;
  product_id: Int8;
  quantity: number;
  amount: Numeric;
  status: TransactionStatus;
  transaction_date: Timestamptz;
}

/** Every transaction with its report day (in REPORT_TIMEZONE) and whether it counts as revenue. */
export interface TransactionLocalView {
  id: Int8;
  customer_id: Int8;
  product_id: Int8;
  quantity: number;
  amount: Numeric;
  status: TransactionStatus;
  transaction_date: Timestamptz;
  day: string;
  is_revenue: boolean;
}

/** Completed transactions only: the rows that make up revenue. */
export interface SalesView {
  id: Int8;
  customer_id: Int8;
  product_id: Int8;
  quantity: number;
  amount: Numeric;
  transaction_date: Timestamptz;
  day: string;
}

export interface DailyRevenueView {
  day: string;
  revenue: Numeric;
  transaction_count: Int8;
  unique_customers: Int8;
  pending_count: Int8;
  cancelled_count: Int8;
  all_count: Int8;
}

/** Completed sales per report day and product. */
export interface DailyProductSalesView {
  day: string;
  product_id: Int8;
  revenue: Numeric;
  units_sold: Int8;
  transaction_count: Int8;
}

/** Distinct customers with completed purchases per week or month. */
export interface PeriodCustomersView {
  granularity: 'week' | 'month';
  period: string;
  unique_customers: Int8;
}

export interface CustomerAnalyticsView {
  customer_id: Int8;
  name: string;
  email: string | null;
  city: string | null;
  created_at: Timestamptz;
  lifetime_value: Numeric;
  transaction_count: Int8;
  avg_order_value: Numeric;
  first_purchase_at: Timestamptz | null;
  last_purchase_at: Timestamptz | null;
}

export interface ProductPerformanceView {
  product_id: Int8;
  sku: string;
  name: string;
  category: string;
  unit_price: Numeric;
  revenue: Numeric;
  units_sold: Int8;
  transaction_count: Int8;
  revenue_share: number;
}

export interface CustomerProductRevenueView {
  customer_id: Int8;
  product_id: Int8;
  revenue: Numeric;
  units_sold: Int8;
  transaction_count: Int8;
}

export interface CustomerFavoriteProductView {
  customer_id: Int8;
  product_id: Int8;
  revenue: Numeric;
}

/** One request that read customer-level data (migration 006). */
export interface AuditLogTable {
  id: ColumnType<string, never, never>;
  occurred_at: Timestamptz;
  request_id: string;
  principal: string;
  role: 'viewer' | 'analyst' | 'admin';
  client_ip: string | null;
  operation_name: string | null;
  customer_count: number;
  customer_ids: ColumnType<string[], string[], never>;
}

export interface Database {
  audit_log: AuditLogTable;
  customers: CustomerTable;
  products: ProductTable;
  transactions: TransactionTable;
  v_transactions_local: TransactionLocalView;
  v_sales: SalesView;
  v_daily_revenue: DailyRevenueView;
  v_daily_product_sales: DailyProductSalesView;
  v_period_customers: PeriodCustomersView;
  v_customer_analytics: CustomerAnalyticsView;
  v_product_performance: ProductPerformanceView;
  v_customer_product_revenue: CustomerProductRevenueView;
  v_customer_favorite_product: CustomerFavoriteProductView;
}

export type CustomerRow = Selectable<CustomerTable>;
export type ProductRow = Selectable<ProductTable>;
export type TransactionRow = Selectable<TransactionTable>;
