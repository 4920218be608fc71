import { sql, type Kysely } from 'kysely';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';
import type { Database } from '../db/database.js';
import { cumulativeOf, pickWeighted, unit } from './random-streams.js';
import { clock, formatCents, formatDay, isoInstant, SECONDS_PER_DAY } from './seed-format.js';
import { CANCELLED_SHARE, HOUR_WEIGHTS, type CalendarPlan, type CustomerPlan, type ProductPlan } from './shop-plan.js';

// ---------------------------------------------------------------------------------------------------------
// Writing. Rows are generated into column arrays and sent as one array literal per column through
// `INSERT ... SELECT * FROM unnest(...)`: one statement per batch, a handful of parameters whatever the
// batch size, and the same text on node-postgres and PGlite. The literals are built here rather than by
// the drivers because the two serialise JavaScript arrays differently and neither does it quickly.

/** Rows per INSERT: big enough that round trips do not matter, small enough to keep each statement short. */
export const BATCH_ROWS = 50_000;

export type Table = 'customers' | 'products' | 'transactions';
export type Column = readonly [name: string, type: string, literal: string];

export async function insertColumns(db: Kysely<Database>, table: Table, columns: readonly Column[]): Promise<void> {
  const names = sql.join(columns.map(([name]) => sql.ref(name)));
  const arrays = sql.join(columns.map(([, type, literal]) => sql`${literal}::${sql.raw(type)}[]`));
  await sql`INSERT INTO ${sql.table(table)} (${names}) SELECT * FROM unnest(${arrays})`.execute(db);
}

export interface DeferredIndex {
  schema: string;
  name: string;
  definition: string;
  comment: string | null;
}

export interface DeferredForeignKey {
  name: string;
  definition: string;
  comment: string | null;
}

/**
 * Runs `load` with the secondary indexes and the foreign keys of `table` dropped, then recreates them from
 * the definitions the catalogue held, so whatever the migrations declare comes back unchanged. Building an
 * index over a million sorted rows takes about a second; maintaining it row by row, and checking every
 * foreign key row by row, took most of a minute. It is safe because it all happens inside the seed's
 * transaction: nobody sees the table without them (readers wait for the commit instead), re-adding a
 * foreign key validates every row, and any failure rolls the whole seed back.
 */
export async function withDeferredIndexes(
  db: Kysely<Database>,
  table: Table,
  load: () => Promise<void>,
): Promise<void> {
  const { rows: indexes } = await sql<DeferredIndex>`
    SELECT n.nspname AS schema, c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition,
           obj_description(i.indexrelid, 'pg_class') AS comment
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE i.indrelid = ${table}::regclass
      AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
    ORDER BY c.relname`.execute(db);
  const { rows: foreignKeys } = await sql<DeferredForeignKey>`
    SELECT conname AS name, pg_get_constraintdef(oid) AS definition,
           obj_description(oid, 'pg_constraint') AS comment
    FROM pg_constraint
    WHERE conrelid = ${table}::regclass AND contype = 'f'
    ORDER BY conname`.execute(db);

  for (const key of foreignKeys) {
    await sql`ALTER TABLE ${sql.table(table)} DROP CONSTRAINT ${sql.id(key.name)}`.execute(db);
  }
  for (const index of indexes) {
    await sql`DROP INDEX ${sql.id(index.schema, index.name)}`.execute(db);
  }

  await load();

  for (const index of indexes) {
    await sql.raw(index.definition).execute(db);
    if (index.comment !== null) {
      await sql`COMMENT ON INDEX ${sql.id(index.schema, index.name)} IS ${sql.lit(index.comment)}`.execute(db);
    }
  }
  for (const key of foreignKeys) {
    await sql`ALTER TABLE ${sql.table(table)} ADD CONSTRAINT ${sql.id(key.name)} ${sql.raw(key.definition)}`.execute(
      db,
    );
    if (key.comment !== null) {
      await sql`COMMENT ON CONSTRAINT ${sql.id(key.name)} ON ${sql.table(table)} IS ${sql.lit(key.comment)}`.execute(
        db,
      );
    }
  }
}

export function numberArray(values: Int32Array | Float64Array, length: number): string {
  return `{${values.subarray(0, length).join(',')}}`;
}

/** For values built here from digits, letters, '-', ':', '.' and 'T', which need no quoting. */
export function plainArray(values: readonly string[], length: number): string {
  return `{${(length === values.length ? values : values.slice(0, length)).join(',')}}`;
}

export function textArray(values: readonly (string | null)[]): string {
  const quoted = values.map((value) => (value === null ? 'NULL' : `"${value.replace(/["\\]/g, '\\$&')}"`));
  return `{${quoted.join(',')}}`;
}

export function idRange(first: number, length: number): Float64Array {
  const ids = new Float64Array(length);
  for (let i = 0; i < length; i++) ids[i] = first + i;
  return ids;
}

export async function insertProducts(db: Kysely<Database>, plan: ProductPlan): Promise<void> {
  const { products } = plan;
  await insertColumns(db, 'products', [
    ['id', 'bigint', numberArray(idRange(1, products.length), products.length)],
    ['sku', 'text', textArray(products.map((product) => product.sku))],
    ['name', 'text', textArray(products.map((product) => product.name))],
    ['category', 'text', textArray(products.map((product) => product.category))],
    [
      'unit_price',
      'numeric',
      plainArray(
        products.map((product) => formatCents(product.unitPriceCents)),
        products.length,
      ),
    ],
  ]);
}

export async function insertCustomers(db: Kysely<Database>, plan: CustomerPlan): Promise<void> {
  for (let start = 0; start < plan.count; start += BATCH_ROWS) {
    const end = Math.min(plan.count, start + BATCH_ROWS);
    const createdAt = Array.from(plan.createdAt.subarray(start, end), (second) => isoInstant(second));
    await insertColumns(db, 'customers', [
      ['id', 'bigint', numberArray(idRange(start + 1, end - start), end - start)],
      ['name', 'text', textArray(plan.names.slice(start, end))],
      ['email', 'text', textArray(plan.emails.slice(start, end))],
      ['city', 'text', textArray(plan.cities.slice(start, end))],
      ['created_at', 'timestamptz', plainArray(createdAt, createdAt.length)],
    ]);
  }
}

export const COMPLETED = 'completed';
export const PENDING = 'pending';
export const CANCELLED = 'cancelled';

export async function insertTransactions(
  db: Kysely<Database>,
  calendar: CalendarPlan,
  customers: CustomerPlan,
  products: ProductPlan,
  rng: RandomGenerator,
): Promise<void> {
  const ids = new Float64Array(BATCH_ROWS);
  const customerIds = new Int32Array(BATCH_ROWS);
  const productIds = new Int32Array(BATCH_ROWS);
  const quantities = new Int32Array(BATCH_ROWS);
  const amounts = new Array<string>(BATCH_ROWS);
  const statuses = new Array<string>(BATCH_ROWS);
  const dates = new Array<string>(BATCH_ROWS);
  let filled = 0;
  let nextId = 1;

  // While PostgreSQL stores one batch, the next one is generated; at most one statement is in flight,
  // as a transaction's connection takes one at a time.
  let inFlight: Promise<void> | undefined;
  const flush = async () => {
    const columns: Column[] = [
      ['id', 'bigint', numberArray(ids, filled)],
      ['customer_id', 'bigint', numberArray(customerIds, filled)],
      ['product_id', 'bigint', numberArray(productIds, filled)],
      ['quantity', 'integer', numberArray(quantities, filled)],
      ['amount', 'numeric', plainArray(amounts, filled)],
      ['status', 'text', plainArray(statuses, filled)],
      ['transaction_date', 'timestamptz', plainArray(dates, filled)],
    ];
    filled = 0;
    await inFlight;
    inFlight = insertColumns(db, 'transactions', columns);
    // A rejection is awaited (and so reported) at the next flush or at the end; this only stops Node from
    // calling it unhandled in between.
    inFlight.catch(() => undefined);
    // Let the driver put the statement on the wire before the next batch occupies the event loop.
    await new Promise((resolve) => setImmediate(resolve));
  };

  const hourWeights = cumulativeOf(HOUR_WEIGHTS);
  const hourTotal = hourWeights[hourWeights.length - 1]!;
  const productCount = products.products.length;
  const popularityTotal = products.cumulativePopularity[productCount - 1]!;
  let eligible = 0;

  for (let d = 0; d < calendar.counts.length; d++) {
    const day = calendar.fromDay + d;
    const dayStart = day * SECONDS_PER_DAY;
    const dayPrefix = `${formatDay(day)}T`;
    // Only customers who signed up before the day starts can buy on it.
    while (eligible < customers.count && customers.createdAt[eligible]! < dayStart) eligible++;
    const weightTotal = customers.cumulativeWeight[eligible - 1]!;
    const pendingChance = calendar.pendingChance[d]!;

    const count = calendar.counts[d]!;
    const seconds = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const hour = pickWeighted(hourWeights, 24, uniformInt(rng, 0, hourTotal - 1));
      seconds[i] = hour * 3600 + uniformInt(rng, 0, 3599);
    }
    seconds.sort();

    for (let i = 0; i < count; i++) {
      const customer = pickWeighted(customers.cumulativeWeight, eligible, uniformInt(rng, 0, weightTotal - 1));
      const product = pickWeighted(
        products.cumulativePopularity,
        productCount,
        uniformInt(rng, 0, popularityTotal - 1),
      );
      const maxQuantity = products.maxQuantity[product]!;
      const skew = products.quantitySkew[product]!;
      const draw = unit(rng);
      let small = draw;
      for (let k = 1; k < skew; k++) small *= draw;
      const quantity = 1 + Math.floor(maxQuantity * small);
      const roll = unit(rng);

      ids[filled] = nextId++;
      customerIds[filled] = customer + 1;
      productIds[filled] = product + 1;
      quantities[filled] = quantity;
      amounts[filled] = products.amounts[product]![quantity]!;
      statuses[filled] =
        roll < pendingChance ? PENDING : roll < pendingChance + CANCELLED_SHARE ? CANCELLED : COMPLETED;
      dates[filled] = dayPrefix + clock(seconds[i]!);
      filled++;
      if (filled === BATCH_ROWS) await flush();
    }
  }
  if (filled > 0) await flush();
  await inFlight;
}
