-- Base tables of the shop's sales data: customers, products and their transactions.
-- Everything else (functions, views) reads these; the seed and the ETL feed write them.

CREATE TABLE customers (
  id          bigint PRIMARY KEY,
  name        text NOT NULL,
  email       text,
  city        text,
  created_at  timestamptz NOT NULL
);

CREATE TABLE products (
  id          bigint PRIMARY KEY,
  sku         text NOT NULL UNIQUE,
  name        text NOT NULL,
  category    text NOT NULL,
  unit_price  numeric(12,2) NOT NULL CHECK (unit_price >= 0)
);

CREATE TABLE transactions (
  id                bigint PRIMARY KEY,
  customer_id       bigint NOT NULL REFERENCES customers,
  product_id        bigint NOT NULL REFERENCES products,
  quantity          integer NOT NULL CHECK (quantity > 0),
  amount            numeric(12,2) NOT NULL CHECK (amount >= 0),
  status            text NOT NULL CHECK (status IN ('completed', 'pending', 'cancelled')),
  transaction_date  timestamptz NOT NULL
);

-- Range scans by time carry the columns the aggregates need, so they can be answered from the index alone.
CREATE INDEX transactions_date_idx ON transactions (transaction_date)
  INCLUDE (status, amount, quantity, customer_id, product_id);
-- Per-customer and per-product figures (favourite product, top customers) and the foreign keys.
CREATE INDEX transactions_customer_product_idx ON transactions (customer_id, product_id);
CREATE INDEX transactions_product_customer_idx ON transactions (product_id, customer_id);
CREATE INDEX products_category_idx ON products (category);
