import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { ChangeListener } from '../../src/changes/change-listener.js';
import type { CacheFreshness } from '../../src/cache/response-cache.js';
import type { DatabaseHandle } from '../../src/db/database-handle.js';
import type { GraphQLResponse, TestGateway } from '../support/gateway.js';

// Shared by the cache tests: the dashboard they cache, answers timed and read for their freshness, rows written
// with plain SQL, and the data version followed. The gateway, its store and the Redis keys are
// test/support/gateway-with-cache.ts's.

export type Dashboard = {
  dashboard: { totalRevenue: string; totalTransactions: number; topProducts: { revenue: string }[] };
};

export const DASHBOARD = `query Dashboard($from: Date, $to: Date, $limit: Int) {
  dashboard(from: $from, to: $to) { totalRevenue totalTransactions topProducts(limit: $limit) { revenue } }
}`;

export interface Answer<T> {
  status: number;
  headers: Record<string, unknown>;
  body: GraphQLResponse<T>;
  cache: CacheFreshness | undefined;
  ms: number;
}

/** POSTs a query and times it; `cache` is the response's `extensions.cache`. */
export async function ask<T = Dashboard>(gateway: TestGateway, payload: object): Promise<Answer<T>> {
  const started = performance.now();
  const response = await gateway.post<T>(payload);
  const ms = performance.now() - started;
  return { ...response, cache: response.body.extensions?.cache as CacheFreshness | undefined, ms };
}

export function dashboard(variables: Record<string, unknown> = {}) {
  return { query: DASHBOARD, operationName: 'Dashboard', variables };
}

/** The SHA-256 that automatic persisted queries name a query by. */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

let nextId = 1_000_000;

/** A customer, a product and `count` completed transactions of `amount` each, written with plain SQL in one commit. */
export async function insertSale(
  database: DatabaseHandle,
  amount: string,
  count = 1,
  date = '2025-03-10T12:00:00Z',
): Promise<void> {
  const id = nextId;
  nextId += count + 1;
  await database.db.transaction().execute(async (trx) => {
    await sql`INSERT INTO customers (id, name, created_at) VALUES (${id}, ${`לקוח ${id}`}, now())`.execute(trx);
    await sql`INSERT INTO products (id, sku, name, category, unit_price)
              VALUES (${id}, ${`SKU-${id}`}, ${`מוצר ${id}`}, 'בדיקות', ${amount})`.execute(trx);
    await sql`INSERT INTO transactions (id, customer_id, product_id, quantity, amount, status, transaction_date)
              SELECT ${id} + n, ${id}, ${id}, 1, ${amount}::numeric, 'completed', ${date}::timestamptz
              FROM generate_series(1, ${count}::int) AS n`.execute(trx);
  });
}

export async function readVersion(database: DatabaseHandle): Promise<bigint> {
  const { rows } = await sql<{ version: string }>`SELECT mp_data_version()::text AS version`.execute(database.db);
  return BigInt(rows[0]!.version);
}

/**
 * Waits until a listener has heard every announcement up to the database's current version: one commit can
 * announce several versions (one per statement), and an answer may see the data before the last of them.
 */
export async function caughtUp(changes: ChangeListener, database: DatabaseHandle): Promise<void> {
  const target = await readVersion(database);
  const started = performance.now();
  while (changes.latestVersion < target) {
    if (performance.now() - started > 1_000)
      throw new Error(`the listener is at ${changes.version}, the database at ${target}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Asks again until `accept` holds or `withinMs` has passed; returns the last answer and when it came. */
export async function pollUntil<T>(
  run: () => Promise<Answer<T>>,
  accept: (answer: Answer<T>) => boolean,
  withinMs = 1_000,
): Promise<{ answer: Answer<T>; afterMs: number }> {
  const started = performance.now();
  for (;;) {
    const answer = await run();
    const afterMs = performance.now() - started;
    if (accept(answer) || afterMs > withinMs) return { answer, afterMs };
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
