import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { randomStreams } from './random-streams.js';
import { parseDay } from './seed-format.js';
import { resolveSeedOptions, type SeedOptions, type SeedSummary } from './seed-options.js';
import { insertCustomers, insertProducts, insertTransactions, withDeferredIndexes } from './seed-writer.js';
import { planCalendar, planCustomers, planProducts } from './shop-plan.js';

// The demo shop, loaded in one transaction: options (seed-options.ts), seeded random streams
// (random-streams.ts), a plan of products, customers and the calendar (shop-plan.ts), written as column arrays
// (seed-writer.ts).

/** True when none of the three base tables holds a row. */
export async function isDatabaseEmpty(db: Kysely<Database>): Promise<boolean> {
  const { rows } = await sql<{ empty: boolean }>`
    SELECT NOT (EXISTS (SELECT 1 FROM customers) OR EXISTS (SELECT 1 FROM products)
                OR EXISTS (SELECT 1 FROM transactions)) AS empty`.execute(db);
  return rows[0]?.empty === true;
}

/** Empties the three base tables; one TRUNCATE, because the foreign keys forbid emptying them one by one. */
export async function clearDatabase(db: Kysely<Database>): Promise<void> {
  await sql`TRUNCATE transactions, customers, products`.execute(db);
}

/**
 * Loads the demo shop: products from the catalogue, customers and `transactions` sales over `days` days
 * ending at `until`. Everything is written in one transaction, so a failure leaves the tables as they were.
 * Ids run 1..N in each table; customer ids follow sign-up time and transaction ids follow transaction time.
 */
export async function seedDatabase(db: Kysely<Database>, options: SeedOptions): Promise<SeedSummary> {
  const started = performance.now();
  const plan = resolveSeedOptions(options);
  const random = randomStreams(plan.seed);
  const fromDay = parseDay(plan.from) as number;
  const products = planProducts(plan.products, random.products);
  const customers = planCustomers(plan.customers, fromDay, plan.days, random.customers);
  const calendar = planCalendar(plan.transactions, fromDay, plan.days, random.calendar);

  await db.transaction().execute(async (trx) => {
    // Row-by-row rollup maintenance would triple the load time; the rollups are rebuilt once at the end instead.
    await sql`SELECT set_config('marketpulse.defer_rollups', 'on', true)`.execute(trx);
    if (plan.reset) {
      await clearDatabase(trx);
    } else if (!(await isDatabaseEmpty(trx))) {
      throw new Error(
        'the database already holds customers, products or transactions; seed with reset to replace them',
      );
    }
    await insertProducts(trx, products);
    await insertCustomers(trx, customers);
    await withDeferredIndexes(trx, 'transactions', () =>
      insertTransactions(trx, calendar, customers, products, random.transactions),
    );
    await sql`SELECT set_config('marketpulse.defer_rollups', 'off', true)`.execute(trx);
    await sql`SELECT mp_rebuild_rollups((SELECT timezone FROM rollup_state))`.execute(trx);
  });
  // Fresh statistics, so the first report queries are planned for a million rows rather than an empty table.
  await sql`ANALYZE customers, products, transactions`.execute(db);

  return {
    customers: plan.customers,
    products: plan.products,
    transactions: plan.transactions,
    from: plan.from,
    until: plan.until,
    seconds: Math.round(performance.now() - started) / 1000,
  };
}
