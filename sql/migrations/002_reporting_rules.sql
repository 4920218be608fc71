-- The business rules, defined once: what a report day is (REPORT_TIMEZONE), what counts as revenue
-- (completed transactions only) and how averages round. Every view below, and so every resolver, reads them.

-- The gateway sets marketpulse.report_timezone on each connection from REPORT_TIMEZONE; plain SQL clients get UTC.
CREATE FUNCTION mp_report_timezone() RETURNS text
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT coalesce(nullif(current_setting('marketpulse.report_timezone', true), ''), 'UTC') $$;

-- The calendar day of an instant in the report time zone.
CREATE FUNCTION mp_local_day(ts timestamptz) RETURNS date
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT (ts AT TIME ZONE mp_report_timezone())::date $$;

-- The instant a report day starts; [mp_day_start(d), mp_day_start(d + 1)) is day d, also across DST changes.
CREATE FUNCTION mp_day_start(d date) RETURNS timestamptz
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT d::timestamp AT TIME ZONE mp_report_timezone() $$;

-- revenue / count, rounded half away from zero to cents (numeric round does that), 0.00 for no transactions.
CREATE FUNCTION mp_average(revenue numeric, n bigint) RETURNS numeric
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT CASE WHEN coalesce(n, 0) = 0 THEN 0.00 ELSE round(revenue / n, 2) END $$;

-- Every transaction with its report day and whether it is revenue. The one place both rules are applied.
CREATE VIEW v_transactions_local AS
SELECT t.id, t.customer_id, t.product_id, t.quantity, t.amount, t.status, t.transaction_date,
       mp_local_day(t.transaction_date) AS day,
       (t.status = 'completed') AS is_revenue
FROM transactions t;

-- Revenue-bearing transactions: read by the revenue series (weeks, months), top products and the rollups per entity.
CREATE VIEW v_sales AS
SELECT id, customer_id, product_id, quantity, amount, transaction_date, day
FROM v_transactions_local
WHERE is_revenue;

-- One row per report day that has any transaction: revenue figures over completed ones, counts per status.
-- Read by the dashboard totals, its trend and the daily revenue series.
CREATE VIEW v_daily_revenue AS
SELECT day,
       round(coalesce(sum(amount) FILTER (WHERE is_revenue), 0), 2) AS revenue,
       count(*) FILTER (WHERE is_revenue) AS transaction_count,
       count(DISTINCT customer_id) FILTER (WHERE is_revenue) AS unique_customers,
       count(*) FILTER (WHERE status = 'pending') AS pending_count,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled_count,
       count(*) AS all_count
FROM v_transactions_local
GROUP BY day;

-- Every customer, also those without completed transactions, with lifetime figures. Read by Customer.
CREATE VIEW v_customer_analytics AS
SELECT c.id AS customer_id, c.name, c.email, c.city, c.created_at,
       round(coalesce(s.lifetime_value, 0), 2) AS lifetime_value,
       coalesce(s.transaction_count, 0) AS transaction_count,
       mp_average(coalesce(s.lifetime_value, 0), coalesce(s.transaction_count, 0)) AS avg_order_value,
       s.first_purchase_at, s.last_purchase_at
FROM customers c
LEFT JOIN (
  SELECT customer_id, sum(amount) AS lifetime_value, count(*) AS transaction_count,
         min(transaction_date) AS first_purchase_at, max(transaction_date) AS last_purchase_at
  FROM v_sales
  GROUP BY customer_id
) s ON s.customer_id = c.id;

-- Every product with its all-time figures and share of all revenue. Read by Product.
CREATE VIEW v_product_performance AS
SELECT p.id AS product_id, p.sku, p.name, p.category, p.unit_price,
       round(coalesce(s.revenue, 0), 2) AS revenue,
       coalesce(s.units_sold, 0) AS units_sold,
       coalesce(s.transaction_count, 0) AS transaction_count,
       CASE WHEN total.revenue > 0 THEN (coalesce(s.revenue, 0) / total.revenue)::float8 ELSE 0 END AS revenue_share
FROM products p
LEFT JOIN (
  SELECT product_id, sum(amount) AS revenue, sum(quantity) AS units_sold, count(*) AS transaction_count
  FROM v_sales
  GROUP BY product_id
) s ON s.product_id = p.id
CROSS JOIN (SELECT sum(amount) AS revenue FROM v_sales) total;

-- Revenue per customer and product. Read by Product.topCustomers.
CREATE VIEW v_customer_product_revenue AS
SELECT customer_id, product_id, round(sum(amount), 2) AS revenue, sum(quantity) AS units_sold, count(*) AS transaction_count
FROM v_sales
GROUP BY customer_id, product_id;

-- Each customer's favourite: most revenue, ties by the lower product id. Read by Customer.favoriteProduct.
CREATE VIEW v_customer_favorite_product AS
SELECT DISTINCT ON (customer_id) customer_id, product_id, revenue
FROM v_customer_product_revenue
ORDER BY customer_id, revenue DESC, product_id ASC;
