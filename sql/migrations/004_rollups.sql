-- Rollups: sales pre-aggregated per report day, week, month, customer and product, kept exact by triggers in
-- the writing transaction. The reporting views below read them, so what the gateway serves costs about the
-- same at ten thousand and at ten million transactions. The rules of 002 still define every figure.
--
-- Report days depend on the time zone, so the rollups record the zone they were built for (rollup_state) and
-- the views refuse to answer a session that reports in another zone: a changed REPORT_TIMEZONE is an error
-- until the rollups are rebuilt (the gateway does that on start), never silently wrong days.

CREATE TABLE rollup_state (
  singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  timezone    text NOT NULL,
  rebuilt_at  timestamptz NOT NULL DEFAULT now()
);

-- Per report day, every status; unique_customers counts distinct customers among the completed ones.
CREATE TABLE rollup_daily (
  day               date PRIMARY KEY,
  revenue           numeric(16,2) NOT NULL,
  completed_count   bigint NOT NULL,
  pending_count     bigint NOT NULL,
  cancelled_count   bigint NOT NULL,
  unique_customers  bigint NOT NULL DEFAULT 0
);

-- Completed sales per day and product: top products of a range.
CREATE TABLE rollup_daily_product (
  day         date NOT NULL,
  product_id  bigint NOT NULL,
  revenue     numeric(16,2) NOT NULL,
  units       bigint NOT NULL,
  tx_count    bigint NOT NULL,
  PRIMARY KEY (day, product_id)
);

-- Which customers completed a purchase in each week (from Monday) and month, and how many distinct customers
-- each such period had. Distinct counts do not add up across days, so weeks and months keep their own; a day's
-- count is recounted from the transactions of that day (an index range) whenever the day changes.
CREATE TABLE rollup_customer_period (
  granularity  text NOT NULL CHECK (granularity IN ('week', 'month')),
  period       date NOT NULL,
  customer_id  bigint NOT NULL,
  tx_count     bigint NOT NULL,
  PRIMARY KEY (granularity, period, customer_id)
);

CREATE TABLE rollup_period (
  granularity       text NOT NULL,
  period            date NOT NULL,
  unique_customers  bigint NOT NULL,
  PRIMARY KEY (granularity, period)
);

-- All-time completed figures per customer (one row for every customer), per product (one row for every
-- product) and per customer and product.
CREATE TABLE rollup_customer (
  customer_id        bigint PRIMARY KEY,
  lifetime_value     numeric(16,2) NOT NULL DEFAULT 0,
  tx_count           bigint NOT NULL DEFAULT 0,
  first_purchase_at  timestamptz,
  last_purchase_at   timestamptz
);

CREATE TABLE rollup_product (
  product_id  bigint PRIMARY KEY,
  revenue     numeric(16,2) NOT NULL DEFAULT 0,
  units       bigint NOT NULL DEFAULT 0,
  tx_count    bigint NOT NULL DEFAULT 0
);

CREATE TABLE rollup_customer_product (
  customer_id  bigint NOT NULL,
  product_id   bigint NOT NULL,
  revenue      numeric(16,2) NOT NULL,
  units        bigint NOT NULL,
  tx_count     bigint NOT NULL,
  PRIMARY KEY (customer_id, product_id)
);

-- A customer's favourite, and a product's top customers, are the first entries of these.
CREATE INDEX rollup_customer_product_favorite_idx ON rollup_customer_product (customer_id, revenue DESC, product_id);
CREATE INDEX rollup_customer_product_top_idx ON rollup_customer_product (product_id, revenue DESC, customer_id);
-- Keyset pages of customers in every order the API offers (ties by id ascending, nulls last).
CREATE INDEX rollup_customer_value_desc_idx ON rollup_customer (lifetime_value DESC, customer_id);
CREATE INDEX rollup_customer_value_asc_idx ON rollup_customer (lifetime_value, customer_id);
CREATE INDEX rollup_customer_count_desc_idx ON rollup_customer (tx_count DESC, customer_id);
CREATE INDEX rollup_customer_count_asc_idx ON rollup_customer (tx_count, customer_id);
CREATE INDEX rollup_customer_last_desc_idx ON rollup_customer (last_purchase_at DESC NULLS LAST, customer_id);
CREATE INDEX rollup_customer_last_asc_idx ON rollup_customer (last_purchase_at ASC NULLS LAST, customer_id);
CREATE INDEX customers_name_idx ON customers (name, id);

-- Applies the rows of mp_delta (sign +1 for rows that appeared, -1 for rows that went) to every rollup.
CREATE FUNCTION mp_apply_delta() RETURNS void
  LANGUAGE plpgsql
  AS $$
DECLARE
  zone text := (SELECT timezone FROM rollup_state);
BEGIN
  CREATE TEMP TABLE IF NOT EXISTS mp_delta_sales (
    customer_id bigint, product_id bigint, quantity bigint, amount numeric, transaction_date timestamptz,
    day date, sign integer
  ) ON COMMIT DELETE ROWS;
  INSERT INTO mp_delta_sales
  SELECT customer_id, product_id, quantity, amount, transaction_date, (transaction_date AT TIME ZONE zone)::date, sign
  FROM mp_delta WHERE status = 'completed';

  INSERT INTO rollup_daily AS r (day, revenue, completed_count, pending_count, cancelled_count)
  SELECT (transaction_date AT TIME ZONE zone)::date,
         coalesce(sum(sign * amount) FILTER (WHERE status = 'completed'), 0),
         coalesce(sum(sign) FILTER (WHERE status = 'completed'), 0),
         coalesce(sum(sign) FILTER (WHERE status = 'pending'), 0),
         coalesce(sum(sign) FILTER (WHERE status = 'cancelled'), 0)
  FROM mp_delta GROUP BY 1 ORDER BY 1
  ON CONFLICT (day) DO UPDATE SET revenue = r.revenue + excluded.revenue,
                                  completed_count = r.completed_count + excluded.completed_count,
                                  pending_count = r.pending_count + excluded.pending_count,
                                  cancelled_count = r.cancelled_count + excluded.cancelled_count;
  DELETE FROM rollup_daily
  WHERE day IN (SELECT DISTINCT (transaction_date AT TIME ZONE zone)::date FROM mp_delta)
    AND completed_count = 0 AND pending_count = 0 AND cancelled_count = 0;
  UPDATE rollup_daily r
  SET unique_customers = (
    SELECT count(DISTINCT t.customer_id) FROM transactions t
    WHERE t.status = 'completed'
      AND t.transaction_date >= (r.day::timestamp AT TIME ZONE zone)
      AND t.transaction_date < ((r.day + 1)::timestamp AT TIME ZONE zone))
  WHERE r.day IN (SELECT DISTINCT day FROM mp_delta_sales);

  INSERT INTO rollup_daily_product AS r (day, product_id, revenue, units, tx_count)
  SELECT day, product_id, sum(sign * amount), sum(sign * quantity), sum(sign)
  FROM mp_delta_sales GROUP BY 1, 2 ORDER BY 1, 2
  ON CONFLICT (day, product_id) DO UPDATE SET revenue = r.revenue + excluded.revenue,
                                              units = r.units + excluded.units,
                                              tx_count = r.tx_count + excluded.tx_count;
  DELETE FROM rollup_daily_product r
  USING (SELECT DISTINCT day, product_id FROM mp_delta_sales WHERE sign < 0) d
  WHERE r.day = d.day AND r.product_id = d.product_id AND r.tx_count = 0;

  INSERT INTO rollup_customer_period AS r (granularity, period, customer_id, tx_count)
  SELECT g.granularity, date_trunc(g.granularity, s.day::timestamp)::date, s.customer_id, sum(s.sign)
  FROM mp_delta_sales s CROSS JOIN (VALUES ('week'), ('month')) AS g(granularity)
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (granularity, period, customer_id) DO UPDATE SET tx_count = r.tx_count + excluded.tx_count;
  DELETE FROM rollup_customer_period r
  USING (SELECT DISTINCT g.granularity, date_trunc(g.granularity, s.day::timestamp)::date AS period, s.customer_id
         FROM mp_delta_sales s CROSS JOIN (VALUES ('week'), ('month')) AS g(granularity)
         WHERE s.sign < 0) d
  WHERE r.granularity = d.granularity AND r.period = d.period AND r.customer_id = d.customer_id AND r.tx_count = 0;

  -- Recount the distinct customers of every period the change touched.
  WITH touched AS (
    SELECT DISTINCT g.granularity, date_trunc(g.granularity, s.day::timestamp)::date AS period
    FROM mp_delta_sales s CROSS JOIN (VALUES ('week'), ('month')) AS g(granularity)
  ), counted AS (
    SELECT t.granularity, t.period,
           (SELECT count(*) FROM rollup_customer_period c WHERE c.granularity = t.granularity AND c.period = t.period) AS n
    FROM touched t
  ), removed AS (
    DELETE FROM rollup_period p USING counted c
    WHERE p.granularity = c.granularity AND p.period = c.period AND c.n = 0
  )
  INSERT INTO rollup_period AS r (granularity, period, unique_customers)
  SELECT granularity, period, n FROM counted WHERE n > 0 ORDER BY 1, 2
  ON CONFLICT (granularity, period) DO UPDATE SET unique_customers = excluded.unique_customers;

  INSERT INTO rollup_product AS r (product_id, revenue, units, tx_count)
  SELECT product_id, sum(sign * amount), sum(sign * quantity), sum(sign)
  FROM mp_delta_sales GROUP BY 1 ORDER BY 1
  ON CONFLICT (product_id) DO UPDATE SET revenue = r.revenue + excluded.revenue,
                                         units = r.units + excluded.units,
                                         tx_count = r.tx_count + excluded.tx_count;

  INSERT INTO rollup_customer_product AS r (customer_id, product_id, revenue, units, tx_count)
  SELECT customer_id, product_id, sum(sign * amount), sum(sign * quantity), sum(sign)
  FROM mp_delta_sales GROUP BY 1, 2 ORDER BY 1, 2
  ON CONFLICT (customer_id, product_id) DO UPDATE SET revenue = r.revenue + excluded.revenue,
                                                      units = r.units + excluded.units,
                                                      tx_count = r.tx_count + excluded.tx_count;
  DELETE FROM rollup_customer_product r
  USING (SELECT DISTINCT customer_id, product_id FROM mp_delta_sales WHERE sign < 0) d
  WHERE r.customer_id = d.customer_id AND r.product_id = d.product_id AND r.tx_count = 0;

  INSERT INTO rollup_customer AS r (customer_id, lifetime_value, tx_count, first_purchase_at, last_purchase_at)
  SELECT customer_id, sum(sign * amount), sum(sign),
         min(transaction_date) FILTER (WHERE sign > 0), max(transaction_date) FILTER (WHERE sign > 0)
  FROM mp_delta_sales GROUP BY 1 ORDER BY 1
  ON CONFLICT (customer_id) DO UPDATE SET lifetime_value = r.lifetime_value + excluded.lifetime_value,
                                          tx_count = r.tx_count + excluded.tx_count,
                                          first_purchase_at = least(r.first_purchase_at, excluded.first_purchase_at),
                                          last_purchase_at = greatest(r.last_purchase_at, excluded.last_purchase_at);
  -- A purchase that went away may have been the first or the last: ask the customer's transactions again.
  UPDATE rollup_customer r
  SET first_purchase_at = x.first_purchase_at, last_purchase_at = x.last_purchase_at
  FROM (
    SELECT d.customer_id,
           (SELECT min(t.transaction_date) FROM transactions t WHERE t.customer_id = d.customer_id AND t.status = 'completed') AS first_purchase_at,
           (SELECT max(t.transaction_date) FROM transactions t WHERE t.customer_id = d.customer_id AND t.status = 'completed') AS last_purchase_at
    FROM (SELECT DISTINCT customer_id FROM mp_delta_sales WHERE sign < 0) d
  ) x
  WHERE r.customer_id = x.customer_id;

  DELETE FROM mp_delta_sales;
END
$$;

CREATE FUNCTION mp_ensure_delta_table() RETURNS void
  LANGUAGE plpgsql
  AS $$
BEGIN
  CREATE TEMP TABLE IF NOT EXISTS mp_delta (
    customer_id bigint, product_id bigint, quantity bigint, amount numeric, status text,
    transaction_date timestamptz, sign integer
  ) ON COMMIT DELETE ROWS;
END
$$;

-- Rebuilds every rollup from the base tables for report days in `zone`. Used when the zone changes, after
-- bulk loads that deferred the triggers (marketpulse.defer_rollups), and after TRUNCATE. Plain aggregates
-- over the whole table, loaded in key order with the secondary indexes built afterwards: a million
-- transactions take seconds, where replaying them through mp_apply_delta would take most of a minute.
CREATE FUNCTION mp_rebuild_rollups(zone text) RETURNS void
  LANGUAGE plpgsql
  AS $$
DECLARE
  rollups regclass[] := ARRAY['rollup_daily', 'rollup_daily_product', 'rollup_customer_period', 'rollup_period',
                              'rollup_customer', 'rollup_product', 'rollup_customer_product']::regclass[];
  definitions text[];
  definition text;
BEGIN
  PERFORM now() AT TIME ZONE zone;  -- an unknown zone fails here, before anything is changed
  PERFORM set_config('work_mem', '256MB', true);
  PERFORM set_config('maintenance_work_mem', '256MB', true);
  INSERT INTO rollup_state (timezone) VALUES (zone)
  ON CONFLICT (singleton) DO UPDATE SET timezone = excluded.timezone, rebuilt_at = now();
  TRUNCATE rollup_daily, rollup_daily_product, rollup_customer_period, rollup_period,
           rollup_customer, rollup_product, rollup_customer_product;

  SELECT coalesce(array_agg(pg_get_indexdef(indexrelid)), '{}') INTO definitions
  FROM pg_index WHERE indrelid = ANY (rollups) AND NOT indisprimary;
  FOR definition IN
    SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = ANY (rollups) AND NOT indisprimary
  LOOP
    EXECUTE format('DROP INDEX %s', definition);
  END LOOP;

  CREATE TEMP TABLE mp_rebuild_sales ON COMMIT DROP AS
  SELECT customer_id, product_id, quantity, amount, transaction_date, (transaction_date AT TIME ZONE zone)::date AS day
  FROM transactions WHERE status = 'completed';

  INSERT INTO rollup_daily (day, revenue, completed_count, pending_count, cancelled_count, unique_customers)
  SELECT (transaction_date AT TIME ZONE zone)::date,
         coalesce(sum(amount) FILTER (WHERE status = 'completed'), 0),
         count(*) FILTER (WHERE status = 'completed'),
         count(*) FILTER (WHERE status = 'pending'),
         count(*) FILTER (WHERE status = 'cancelled'),
         count(DISTINCT customer_id) FILTER (WHERE status = 'completed')
  FROM transactions GROUP BY 1 ORDER BY 1;

  INSERT INTO rollup_daily_product (day, product_id, revenue, units, tx_count)
  SELECT day, product_id, sum(amount), sum(quantity), count(*) FROM mp_rebuild_sales GROUP BY 1, 2 ORDER BY 1, 2;

  INSERT INTO rollup_customer_period (granularity, period, customer_id, tx_count)
  SELECT 'month', date_trunc('month', day::timestamp)::date, customer_id, count(*)
  FROM mp_rebuild_sales GROUP BY 2, 3 ORDER BY 2, 3;
  INSERT INTO rollup_customer_period (granularity, period, customer_id, tx_count)
  SELECT 'week', date_trunc('week', day::timestamp)::date, customer_id, count(*)
  FROM mp_rebuild_sales GROUP BY 2, 3 ORDER BY 2, 3;
  INSERT INTO rollup_period (granularity, period, unique_customers)
  SELECT granularity, period, count(*) FROM rollup_customer_period GROUP BY 1, 2 ORDER BY 1, 2;

  INSERT INTO rollup_customer_product (customer_id, product_id, revenue, units, tx_count)
  SELECT customer_id, product_id, sum(amount), sum(quantity), count(*) FROM mp_rebuild_sales GROUP BY 1, 2 ORDER BY 1, 2;

  INSERT INTO rollup_customer (customer_id, lifetime_value, tx_count, first_purchase_at, last_purchase_at)
  SELECT c.id, coalesce(s.value, 0), coalesce(s.n, 0), s.first_at, s.last_at
  FROM customers c
  LEFT JOIN (SELECT customer_id, sum(amount) AS value, count(*) AS n, min(transaction_date) AS first_at, max(transaction_date) AS last_at
             FROM mp_rebuild_sales GROUP BY 1) s ON s.customer_id = c.id
  ORDER BY c.id;

  INSERT INTO rollup_product (product_id, revenue, units, tx_count)
  SELECT p.id, coalesce(s.revenue, 0), coalesce(s.units, 0), coalesce(s.n, 0)
  FROM products p
  LEFT JOIN (SELECT product_id, sum(amount) AS revenue, sum(quantity) AS units, count(*) AS n FROM mp_rebuild_sales GROUP BY 1) s
    ON s.product_id = p.id
  ORDER BY p.id;

  DROP TABLE mp_rebuild_sales;
  FOREACH definition IN ARRAY definitions LOOP
    EXECUTE definition;
  END LOOP;
  ANALYZE rollup_daily, rollup_daily_product, rollup_customer_period, rollup_period,
          rollup_customer, rollup_product, rollup_customer_product;
END
$$;

CREATE FUNCTION mp_rollup_transactions() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  IF current_setting('marketpulse.defer_rollups', true) = 'on' THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM mp_rebuild_rollups((SELECT timezone FROM rollup_state));
    RETURN NULL;
  END IF;
  PERFORM mp_ensure_delta_table();
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO mp_delta SELECT customer_id, product_id, quantity, amount, status, transaction_date, 1 FROM new_rows;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO mp_delta SELECT customer_id, product_id, quantity, amount, status, transaction_date, -1 FROM old_rows;
  END IF;
  PERFORM mp_apply_delta();
  DELETE FROM mp_delta;
  RETURN NULL;
END
$$;

CREATE TRIGGER transactions_rollup_insert AFTER INSERT ON transactions
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mp_rollup_transactions();
CREATE TRIGGER transactions_rollup_update AFTER UPDATE ON transactions
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mp_rollup_transactions();
CREATE TRIGGER transactions_rollup_delete AFTER DELETE ON transactions
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION mp_rollup_transactions();
CREATE TRIGGER transactions_rollup_truncate AFTER TRUNCATE ON transactions
  FOR EACH STATEMENT EXECUTE FUNCTION mp_rollup_transactions();

-- Every customer and product has a rollup row, also before its first sale.
CREATE FUNCTION mp_rollup_entities() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  IF current_setting('marketpulse.defer_rollups', true) = 'on' THEN
    RETURN NULL;
  END IF;
  IF TG_TABLE_NAME = 'customers' THEN
    IF TG_OP = 'INSERT' THEN
      INSERT INTO rollup_customer (customer_id) SELECT id FROM new_rows ON CONFLICT DO NOTHING;
    ELSIF TG_OP = 'DELETE' THEN
      DELETE FROM rollup_customer WHERE customer_id IN (SELECT id FROM old_rows);
    ELSE
      DELETE FROM rollup_customer;
    END IF;
  ELSE
    IF TG_OP = 'INSERT' THEN
      INSERT INTO rollup_product (product_id) SELECT id FROM new_rows ON CONFLICT DO NOTHING;
    ELSIF TG_OP = 'DELETE' THEN
      DELETE FROM rollup_product WHERE product_id IN (SELECT id FROM old_rows);
    ELSE
      DELETE FROM rollup_product;
    END IF;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER customers_rollup_insert AFTER INSERT ON customers
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mp_rollup_entities();
CREATE TRIGGER customers_rollup_delete AFTER DELETE ON customers
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION mp_rollup_entities();
CREATE TRIGGER customers_rollup_truncate AFTER TRUNCATE ON customers
  FOR EACH STATEMENT EXECUTE FUNCTION mp_rollup_entities();
CREATE TRIGGER products_rollup_insert AFTER INSERT ON products
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mp_rollup_entities();
CREATE TRIGGER products_rollup_delete AFTER DELETE ON products
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION mp_rollup_entities();
CREATE TRIGGER products_rollup_truncate AFTER TRUNCATE ON products
  FOR EACH STATEMENT EXECUTE FUNCTION mp_rollup_entities();

-- True when the rollups hold days of this session's report zone; otherwise an error that says what to do.
CREATE FUNCTION mp_check_rollup_timezone() RETURNS boolean
  LANGUAGE plpgsql STABLE
  AS $$
DECLARE
  kept text := (SELECT timezone FROM rollup_state);
BEGIN
  IF kept IS DISTINCT FROM mp_report_timezone() THEN
    RAISE EXCEPTION 'rollups hold report days of time zone %, but this session reports in %', kept, mp_report_timezone()
      USING ERRCODE = 'MP001',
            HINT = 'start the gateway with the new REPORT_TIMEZONE (it rebuilds them) or run SELECT mp_rebuild_rollups(zone)';
  END IF;
  RETURN true;
END
$$;

-- The reporting views now read the rollups; their names, columns and meaning stay those of 002. Sums of
-- numeric(12,2) amounts keep two decimals, and columns stay bare so that the indexes above serve ORDER BY.
DROP VIEW v_customer_favorite_product, v_customer_product_revenue, v_product_performance, v_customer_analytics, v_daily_revenue;

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

-- Distinct customers with completed purchases in each week and month (buckets of the revenue series).
CREATE VIEW v_period_customers AS
SELECT granularity, period, unique_customers
FROM rollup_period
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

-- Build the rollups for whatever the tables already hold, in the zone of the migrating session.
SELECT mp_rebuild_rollups(mp_report_timezone());
