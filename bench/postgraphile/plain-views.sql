-- The benchmark peer's schema: the contract's figures as plain views that aggregate `transactions` live on
-- every query (no rollups, no caching), for PostGraphile (bench/postgraphile/server.mjs) and nothing else.
-- Days are UTC calendar days, the gateway's default REPORT_TIMEZONE; revenue is completed transactions only.
-- Recreated by `npm run bench` on every run, so editing this file needs no --fresh.

DROP SCHEMA IF EXISTS bench_plain CASCADE;
CREATE SCHEMA bench_plain;

-- One row per UTC day that has any transaction: revenue figures over completed ones, counts per status.
CREATE VIEW bench_plain.daily_revenue AS
SELECT (t.transaction_date AT TIME ZONE 'UTC')::date AS day,
       round(coalesce(sum(t.amount) FILTER (WHERE t.status = 'completed'), 0), 2) AS total_revenue,
       (count(*) FILTER (WHERE t.status = 'completed'))::int AS transaction_count,
       CASE WHEN count(*) FILTER (WHERE t.status = 'completed') = 0 THEN 0.00
            ELSE round(sum(t.amount) FILTER (WHERE t.status = 'completed') / count(*) FILTER (WHERE t.status = 'completed'), 2)
       END AS avg_transaction_value,
       (count(DISTINCT t.customer_id) FILTER (WHERE t.status = 'completed'))::int AS unique_customers,
       (count(*) FILTER (WHERE t.status = 'pending'))::int AS pending_count,
       (count(*) FILTER (WHERE t.status = 'cancelled'))::int AS cancelled_count,
       count(*)::int AS all_count
FROM public.transactions t
GROUP BY 1;

-- The dashboard's totals over all data: one row.
CREATE VIEW bench_plain.dashboard_totals AS
SELECT round(coalesce(sum(total_revenue), 0), 2) AS total_revenue,
       coalesce(sum(all_count), 0)::int AS total_transactions,
       coalesce(sum(transaction_count), 0)::int AS completed_transactions,
       coalesce(sum(pending_count), 0)::int AS pending_transactions,
       coalesce(sum(cancelled_count), 0)::int AS cancelled_transactions,
       CASE WHEN coalesce(sum(transaction_count), 0) = 0 THEN 0.00
            ELSE round(sum(total_revenue) / sum(transaction_count), 2)
       END AS avg_order_value
FROM bench_plain.daily_revenue;

-- The dashboard's trend: the 30 days ending at the last day that has a transaction, zero-filled, one row each.
CREATE VIEW bench_plain.recent_trend AS
WITH last AS (
  SELECT coalesce((max(transaction_date) AT TIME ZONE 'UTC')::date, (now() AT TIME ZONE 'UTC')::date) AS day
  FROM public.transactions
), days AS (
  SELECT (last.day - back)::date AS day FROM last, generate_series(29, 0, -1) AS back
)
SELECT days.day,
       coalesce(r.total_revenue, 0.00) AS total_revenue,
       coalesce(r.transaction_count, 0) AS transaction_count,
       coalesce(r.avg_transaction_value, 0.00) AS avg_transaction_value,
       coalesce(r.unique_customers, 0) AS unique_customers
FROM days LEFT JOIN bench_plain.daily_revenue r ON r.day = days.day;

-- Every product with its all-time completed revenue, units and transactions: the dashboard's top products.
CREATE VIEW bench_plain.product_revenue AS
SELECT p.id AS product_id, p.sku, p.name, p.category,
       round(coalesce(s.revenue, 0), 2) AS revenue,
       coalesce(s.units_sold, 0)::int AS units_sold,
       coalesce(s.transaction_count, 0)::int AS transaction_count
FROM public.products p
LEFT JOIN (
  SELECT product_id, sum(amount) AS revenue, sum(quantity) AS units_sold, count(*) AS transaction_count
  FROM public.transactions
  WHERE status = 'completed'
  GROUP BY product_id
) s ON s.product_id = p.id;

-- Every customer with lifetime figures over completed transactions (for customer-level scenarios).
CREATE VIEW bench_plain.customer_lifetime AS
SELECT c.id AS customer_id, c.name, c.email, c.city,
       round(coalesce(s.lifetime_value, 0), 2) AS lifetime_value,
       coalesce(s.transaction_count, 0)::int AS transaction_count,
       s.first_purchase_at, s.last_purchase_at
FROM public.customers c
LEFT JOIN (
  SELECT customer_id, sum(amount) AS lifetime_value, count(*) AS transaction_count,
         min(transaction_date) AS first_purchase_at, max(transaction_date) AS last_purchase_at
  FROM public.transactions
  WHERE status = 'completed'
  GROUP BY customer_id
) s ON s.customer_id = c.id;
