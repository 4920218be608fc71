import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import type { TransactionRow } from './transaction-row.js';

// The SQL of the transaction feed. Rows go to PostgreSQL as one array literal per column through unnest(), as
// the seed does: one statement per batch with seven parameters whatever its size, and the same text on
// node-postgres and PGlite. Values were validated as digits, letters and ISO instants, which need no quoting
// inside an array literal.

const arrayOf = (values: readonly string[]) => `{${values.join(',')}}`;

/** Which of `ids` exist in `table`. */
async function findExistingIds(
  db: Kysely<Database>,
  table: 'customers' | 'products',
  ids: readonly string[],
): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .selectFrom(table)
    .select('id')
    .where('id', '=', (eb) => eb.fn.any(sql<string[]>`${arrayOf(ids)}::bigint[]`))
    .execute();
  return new Set(rows.map((row) => row.id));
}

/** Which of `ids` are customers. */
export const findCustomerIds = (db: Kysely<Database>, ids: readonly string[]) => findExistingIds(db, 'customers', ids);

/** Which of `ids` are products. */
export const findProductIds = (db: Kysely<Database>, ids: readonly string[]) => findExistingIds(db, 'products', ids);

/** Placeholder customers for `--create-missing`: a name that says so, no email or city, created now. */
export async function createPlaceholderCustomers(db: Kysely<Database>, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await sql`INSERT INTO customers (id, name, created_at)
            SELECT id, 'Unknown customer ' || id, now() FROM unnest(${arrayOf(ids)}::bigint[]) AS t(id)
            ON CONFLICT (id) DO NOTHING`.execute(db);
}

/** Placeholder products for `--create-missing`: SKU UNKNOWN-<id>, category Uncategorised, unit price 0.00. */
export async function createPlaceholderProducts(db: Kysely<Database>, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await sql`INSERT INTO products (id, sku, name, category, unit_price)
            SELECT id, 'UNKNOWN-' || id, 'Unknown product ' || id, 'Uncategorised', 0 FROM unnest(${arrayOf(ids)}::bigint[]) AS t(id)
            ON CONFLICT (id) DO NOTHING`.execute(db);
}

export interface UpsertCounts {
  inserted: number;
  /** Existing transactions whose status, amount or quantity changed. */
  updated: number;
}

/**
 * Writes a batch (ids unique within it). A transaction id already stored takes the row's status, amount and
 * quantity; its customer, product and date stay as first written. A re-sent row that changes nothing is not
 * rewritten, so it neither fires the rollup triggers nor announces a change.
 */
export async function upsertTransactions(db: Kysely<Database>, rows: readonly TransactionRow[]): Promise<UpsertCounts> {
  const column = (pick: (row: TransactionRow) => string) => arrayOf(rows.map(pick));
  const { rows: counts } = await sql<UpsertCounts>`
    WITH written AS (
      INSERT INTO transactions AS t (id, customer_id, product_id, quantity, amount, status, transaction_date)
      SELECT * FROM unnest(${column((r) => r.id)}::bigint[], ${column((r) => r.customerId)}::bigint[],
                           ${column((r) => r.productId)}::bigint[], ${column((r) => r.quantity)}::integer[],
                           ${column((r) => r.amount)}::numeric[], ${column((r) => r.status)}::text[],
                           ${column((r) => r.transactionDate)}::timestamptz[])
      ON CONFLICT (id) DO UPDATE SET status = excluded.status, amount = excluded.amount, quantity = excluded.quantity
      WHERE (t.status, t.amount, t.quantity) IS DISTINCT FROM (excluded.status, excluded.amount, excluded.quantity)
      RETURNING (xmax = 0) AS inserted
    )
    SELECT (count(*) FILTER (WHERE inserted))::int AS inserted, (count(*) FILTER (WHERE NOT inserted))::int AS updated
    FROM written`.execute(db);
  return counts[0] ?? { inserted: 0, updated: 0 };
}
