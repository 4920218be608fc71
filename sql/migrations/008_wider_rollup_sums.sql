-- Rollup sums of money wide enough for any sum the base table can hold: at most 2^63 - 1 transactions (bigint ids)
-- of at most 9,999,999,999.99 (numeric(12,2)) sum to under 10^29, which numeric(31,2) holds, still with two
-- decimals. As numeric(16,2) they overflowed at 10^14, about ten thousand completed transactions of the largest
-- amount on one day, and the batch that wrote them was rolled back whole. The reporting views read these columns,
-- so they are dropped and created again exactly as sql/migrations/004_rollups.sql defines them.

DROP VIEW v_customer_favorite_product, v_customer_product_revenue, v_product_performance, v_customer_analytics,
          v_daily_product_sales, v_daily_revenue;

ALTER TABLE rollup_daily ALTER COLUMN revenue TYPE numeric(31,2);
ALTER TABLE rollup_daily_product ALTER COLUMN revenue TYPE numeric(31,2);
ALTER TABLE rollup_customer ALTER COLUMN lifetime_value TYPE numeric(31,2);
ALTER TABLE rollup_product ALTER COLUMN revenue TYPE numeric(31,2);
ALTER TABLE rollup_customer_product ALTER COLUMN revenue TYPE numeric(31,2);

CREATE VIEW v_daily_revenue AS
SELECT day, revenue, completed_count AS transaction_count, unique_customers,
       pending_count, cancelled_count, completed_count + pending_count + cancelled_count AS all_count
FROM rollup_daily
WHERE (SELECT mp_check_rollup_timezone());

-- Completed sales per day and product. Read by the dashboard's top products.
CREATE VIEW v_daily_product_sales AS
SELECT day, product_id, revenue, units AS units_sold, tx_count AS transaction_count
FROM rollup_daily_product
WHERE (SELECT mp_check_rollup_timezone());

CREATE VIEW v_customer_analytics AS
SELECT r.customer_id, c.name, c.email, c.city, c.created_at,
       r.lifetime_value,
       r.tx_count AS transaction_count,
       mp_average(r.lifetime_value, r.tx_count) AS avg_order_value,
       r.first_purchase_at, r.last_purchase_at
FROM rollup_customer r
JOIN customers c ON c.id = r.customer_id;

CREATE VIEW v_product_performance AS
SELECT r.product_id, p.sku, p.name, p.category, p.unit_price,
       r.revenue, r.units AS units_sold, r.tx_count AS transaction_count,
       CASE WHEN total.revenue > 0 THEN (r.revenue / total.revenue)::float8 ELSE 0 END AS revenue_share
FROM rollup_product r
JOIN products p ON p.id = r.product_id
CROSS JOIN (SELECT sum(revenue) AS revenue FROM rollup_product) total;

CREATE VIEW v_customer_product_revenue AS
SELECT customer_id, product_id, revenue, units AS units_sold, tx_count AS transaction_count
FROM rollup_customer_product;

CREATE VIEW v_customer_favorite_product AS
SELECT DISTINCT ON (customer_id) customer_id, product_id, revenue
FROM rollup_customer_product
ORDER BY customer_id, revenue DESC, product_id ASC;
