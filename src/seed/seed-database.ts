import { sql, type Kysely } from 'kysely';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';
import type { Database } from '../db/database.js';
import { EARLIEST_TRANSACTION_DATE, LATEST_TRANSACTION_DATE, TRANSACTION_DATE_RANGE } from '../db/transaction-date-range.js';
import {
  BRANCH_LABEL,
  CATALOGUE_BY_ROTATION,
  CITIES,
  COMPANY_FIELDS,
  COMPANY_PREFIXES,
  COMPANY_SUFFIXES,
  customerEmail,
  EMAIL_ROLES,
  LEGAL_FORMS,
  type CatalogueProduct,
} from './catalogue.js';

export interface SeedOptions {
  transactions: number;
  /** Same seed, same options (including `until`): byte-identical rows. Default 42. */
  seed?: number;
  /** Default: transactions / 20, clamped to 50..50,000. */
  customers?: number;
  /** How many catalogue products to sell, 1..catalogue size; default min(48, catalogue size). */
  products?: number;
  /** Length of the sales history in days; default 365. */
  days?: number;
  /** Last day of data (YYYY-MM-DD, UTC); default today in UTC. */
  until?: string;
  /**
   * Empties the three tables first, inside the seed's own transaction, so a failed reseed keeps the old data.
   * Without it the seed refuses a database that already holds rows.
   */
  reset?: boolean;
}

export interface SeedSummary {
  customers: number;
  products: number;
  transactions: number;
  from: string;
  until: string;
  seconds: number;
}

export interface ResolvedSeedOptions {
  transactions: number;
  seed: number;
  customers: number;
  products: number;
  days: number;
  from: string;
  until: string;
  reset: boolean;
}

export class SeedOptionsError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid seed options:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'SeedOptionsError';
  }
}

export const DEFAULT_SEED = 42;
export const DEFAULT_DAYS = 365;
export const MAX_DAYS = 3_660;
// Customer, product and quantity columns are generated into 32-bit integer arrays.
export const MAX_ROWS = 2_147_483_647;
// xoroshiro128plus is seeded from a 32-bit integer; larger seeds would silently collide.
export const MAX_SEED = 4_294_967_295;

const SECONDS_PER_DAY = 86_400;
const MS_PER_DAY = SECONDS_PER_DAY * 1000;
/** Rows per INSERT: big enough that round trips do not matter, small enough to keep each statement short. */
const BATCH_ROWS = 50_000;

/** Checks and completes the options; throws SeedOptionsError naming every problem at once. */
export function resolveSeedOptions(options: SeedOptions, now: Date = new Date()): ResolvedSeedOptions {
  const problems: string[] = [];
  const integer = (name: string, value: number | undefined, fallback: number, min: number, max: number) => {
    if (value === undefined) return fallback;
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, got ${value}`);
    }
    return value;
  };
  if (options.transactions === undefined) problems.push('transactions is required');
  const transactions = integer('transactions', options.transactions, 1, 1, MAX_ROWS);
  const defaultCustomers = Math.min(50_000, Math.max(50, Math.round(transactions / 20)));
  const resolved = {
    transactions,
    seed: integer('seed', options.seed, DEFAULT_SEED, 0, MAX_SEED),
    customers: integer('customers', options.customers, defaultCustomers, 1, MAX_ROWS),
    products: integer(
      'products',
      options.products,
      Math.min(48, CATALOGUE_BY_ROTATION.length),
      1,
      CATALOGUE_BY_ROTATION.length,
    ),
    days: integer('days', options.days, DEFAULT_DAYS, 1, MAX_DAYS),
    reset: options.reset ?? false,
  };
  const untilDay = options.until === undefined ? Math.floor(now.getTime() / MS_PER_DAY) : parseDay(options.until);
  // Transactions are dated in UTC days from..until, all of which must be days reports can show.
  const earliestDay = Date.parse(EARLIEST_TRANSACTION_DATE) / MS_PER_DAY;
  const latestDay = Date.parse(LATEST_TRANSACTION_DATE) / MS_PER_DAY - 1;
  if (untilDay === undefined || untilDay > latestDay) {
    problems.push(`until must be a date YYYY-MM-DD from ${formatDay(earliestDay)} to ${formatDay(latestDay)}, got ${options.until}`);
  } else if (untilDay - resolved.days + 1 < earliestDay) {
    problems.push(`days: ${resolved.days} days ending at ${formatDay(untilDay)} begin before ${formatDay(earliestDay)}; transaction dates must be ${TRANSACTION_DATE_RANGE}`);
  }
  if (problems.length > 0) throw new SeedOptionsError(problems);
  const day = untilDay as number;
  return { ...resolved, from: formatDay(day - resolved.days + 1), until: formatDay(day) };
}

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
      throw new Error('the database already holds customers, products or transactions; seed with reset to replace them');
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

// ---------------------------------------------------------------------------------------------------------
// Randomness. Each concern draws from its own stream, jumped 2^64 steps apart, so that asking for more
// customers, say, does not reshuffle which products are popular.

interface RandomStreams {
  products: RandomGenerator;
  customers: RandomGenerator;
  calendar: RandomGenerator;
  transactions: RandomGenerator;
}

function randomStreams(seed: number): RandomStreams {
  const root = xoroshiro128plus(seed);
  const next = () => {
    root.jump();
    return root.clone();
  };
  return { products: next(), customers: next(), calendar: next(), transactions: next() };
}

/** A uniform number in [0, 1). */
const unit = (rng: RandomGenerator) => uniformFloat64(rng);

function shuffledIndices(size: number, rng: RandomGenerator): Int32Array {
  const indices = new Int32Array(size);
  for (let i = 0; i < size; i++) indices[i] = i;
  for (let i = size - 1; i > 0; i--) {
    const j = uniformInt(rng, 0, i);
    const swap = indices[i]!;
    indices[i] = indices[j]!;
    indices[j] = swap;
  }
  return indices;
}

/**
 * Index of the first entry of `cumulative[0..size)` above `target`, i.e. a draw weighted by the increments.
 * Weights are integers, so the running sums are exact and the draw does not depend on float rounding.
 */
function pickWeighted(cumulative: Float64Array, size: number, target: number): number {
  let low = 0;
  let high = size - 1;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (cumulative[middle]! > target) high = middle;
    else low = middle + 1;
  }
  return low;
}

function cumulativeOf(weights: ArrayLike<number>): Float64Array {
  const cumulative = new Float64Array(weights.length);
  let sum = 0;
  for (let i = 0; i < weights.length; i++) {
    sum += weights[i]!;
    cumulative[i] = sum;
  }
  return cumulative;
}

// ---------------------------------------------------------------------------------------------------------
// Products: a category-balanced slice of the catalogue. Popularity is Zipf-like over a seeded ranking,
// scaled by category demand and tilted towards cheap items, which are bought more often.

interface ProductPlan {
  products: readonly CatalogueProduct[];
  cumulativePopularity: Float64Array;
  maxQuantity: Int32Array;
  /** Higher means small quantities dominate more strongly. */
  quantitySkew: Int32Array;
  /** amounts[product][quantity]: quantity × unit price, formatted once from integer agorot. */
  amounts: string[][];
}

function planProducts(count: number, rng: RandomGenerator): ProductPlan {
  const products = CATALOGUE_BY_ROTATION.slice(0, count);
  const rank = shuffledIndices(count, rng);
  const popularity = products.map((product, i) => {
    const priceTilt = Math.pow(1_000_00 / product.unitPriceCents, 0.25);
    return Math.max(1, Math.round((1000 * product.demand * priceTilt) / Math.pow(rank[i]! + 1, 0.8)));
  });
  const maxQuantity = new Int32Array(count);
  const quantitySkew = new Int32Array(count);
  const amounts = products.map((product, i) => {
    // Offices restock cables and mice by the box, but buy laptops a few at a time.
    const cheap = product.unitPriceCents < 150_00;
    const expensive = product.unitPriceCents >= 2_000_00;
    maxQuantity[i] = cheap ? 50 : 20;
    quantitySkew[i] = expensive ? 4 : 3;
    const byQuantity = [''];
    for (let quantity = 1; quantity <= maxQuantity[i]!; quantity++) {
      byQuantity.push(formatCents(quantity * product.unitPriceCents));
    }
    return byQuantity;
  });
  return { products, cumulativePopularity: cumulativeOf(popularity), maxQuantity, quantitySkew, amounts };
}

// ---------------------------------------------------------------------------------------------------------
// Customers: most signed up in the three years before the range, a quarter during it. Purchase frequency
// follows a capped Pareto weight (a few big accounts buy a lot); 5% have weight 0 and never buy.

const HISTORY_DAYS = 3 * 365;
const NEW_CUSTOMER_SHARE = 0.25;
const NEVER_BUYING_SHARE = 0.05;
const PARETO_ALPHA = 1.5;
const MAX_ACCOUNT_SIZE = 100;
const NO_EMAIL_SHARE = 0.02;
const NO_CITY_SHARE = 0.01;

interface CustomerPlan {
  count: number;
  /** Sign-up instants in epoch seconds, ascending: index i is customer id i + 1. */
  createdAt: Float64Array;
  cumulativeWeight: Float64Array;
  names: string[];
  emails: (string | null)[];
  cities: (string | null)[];
}

function planCustomers(count: number, fromDay: number, days: number, rng: RandomGenerator): CustomerPlan {
  const fromSecond = fromDay * SECONDS_PER_DAY;
  // At least one customer predates the range, so the first day always has someone to sell to.
  const newcomers = Math.min(count - 1, Math.round(count * NEW_CUSTOMER_SHARE));
  const createdAt = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    createdAt[i] =
      i < count - newcomers
        ? fromSecond - 1 - uniformInt(rng, 0, HISTORY_DAYS * SECONDS_PER_DAY - 1)
        : fromSecond + uniformInt(rng, 0, days * SECONDS_PER_DAY - 1);
  }
  createdAt.sort();

  const weights = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const size = Math.min(MAX_ACCOUNT_SIZE, Math.pow(1 - unit(rng), -1 / PARETO_ALPHA));
    weights[i] = Math.round(100 * size);
  }
  // The oldest customer keeps a weight, so every day's draw has at least one buyer to choose from.
  const neverBuying = Math.round(count * NEVER_BUYING_SHARE);
  const candidates = shuffledIndices(count - 1, rng);
  for (let i = 0; i < neverBuying; i++) weights[candidates[i]! + 1] = 0;

  const baseNames = COMPANY_PREFIXES.length * COMPANY_SUFFIXES.length * COMPANY_FIELDS.length * LEGAL_FORMS.length;
  const nameOrder = shuffledIndices(baseNames, rng);
  const cityWeights = cumulativeOf(CITIES.map(([, weight]) => weight));
  const cityTotal = cityWeights[cityWeights.length - 1]!;
  const names: string[] = [];
  const emails: (string | null)[] = [];
  const cities: (string | null)[] = [];
  for (let i = 0; i < count; i++) {
    names.push(companyName(nameOrder[i % baseNames]!, Math.floor(i / baseNames)));
    const role = EMAIL_ROLES[uniformInt(rng, 0, EMAIL_ROLES.length - 1)]!;
    emails.push(unit(rng) < NO_EMAIL_SHARE ? null : customerEmail(role, i + 1));
    const city = CITIES[pickWeighted(cityWeights, cityWeights.length, uniformInt(rng, 0, cityTotal - 1))]![0];
    cities.push(unit(rng) < NO_CITY_SHARE ? null : city);
  }
  return { count, createdAt, cumulativeWeight: cumulativeOf(weights), names, emails, cities };
}

function companyName(index: number, branch: number): string {
  let rest = index;
  const part = (list: readonly string[]) => {
    const value = list[rest % list.length]!;
    rest = Math.floor(rest / list.length);
    return value;
  };
  const prefix = part(COMPANY_PREFIXES);
  const suffix = part(COMPANY_SUFFIXES);
  const field = part(COMPANY_FIELDS);
  const legal = part(LEGAL_FORMS);
  const name = `${prefix}${suffix} ${field} ${legal}`;
  return branch === 0 ? name : `${name} - ${BRANCH_LABEL} ${branch + 1}`;
}

// ---------------------------------------------------------------------------------------------------------
// Calendar: how many transactions each day gets, and how likely one is still pending.

// Sunday to Saturday: the Israeli work week runs Sunday to Thursday; Friday is short, Saturday nearly idle.
const WEEKDAY_FACTOR = [1.1, 1.1, 1.05, 1.05, 1.0, 0.35, 0.12];
// January to December: spring and autumn holidays and August are slow; year-end budgets are spent in Q4.
const MONTH_FACTOR = [1.0, 0.95, 1.05, 0.9, 1.0, 1.05, 0.95, 0.85, 0.9, 0.9, 1.1, 1.2];
const YEARLY_GROWTH = 0.25;
// UTC hours 0..23, shaped by Israeli office hours (UTC+2/+3): busy mornings, a lunch dip, quiet nights.
const HOUR_WEIGHTS = [1, 1, 1, 1, 2, 4, 10, 16, 18, 17, 14, 15, 16, 15, 12, 8, 5, 3, 2, 2, 2, 2, 1, 1];

const PENDING_SHARE = 0.1;
const CANCELLED_SHARE = 0.05;
// Recent orders are often still awaiting payment or delivery; this is the daily decay of that extra chance.
const PENDING_DECAY = 0.85;
const MAX_RECENT_PENDING = 0.85;

interface CalendarPlan {
  fromDay: number;
  counts: Int32Array;
  pendingChance: Float64Array;
}

function planCalendar(transactions: number, fromDay: number, days: number, rng: RandomGenerator): CalendarPlan {
  const weights = new Float64Array(days);
  let totalWeight = 0;
  for (let d = 0; d < days; d++) {
    const date = new Date((fromDay + d) * MS_PER_DAY);
    const weight =
      WEEKDAY_FACTOR[date.getUTCDay()]! *
      MONTH_FACTOR[date.getUTCMonth()]! *
      (1 + (YEARLY_GROWTH * d) / 365) *
      (0.85 + 0.3 * unit(rng));
    weights[d] = weight;
    totalWeight += weight;
  }
  const counts = apportion(transactions, weights, totalWeight);

  // pending(age) = base + recent × decay^age, with base and recent chosen so the overall share stays at
  // PENDING_SHARE while the most recent days carry as much of it as the range length allows.
  const decay = new Float64Array(days);
  let weightedDecay = 0;
  for (let d = days - 1, factor = 1; d >= 0; d--, factor *= PENDING_DECAY) {
    decay[d] = factor;
    weightedDecay += counts[d]! * factor;
  }
  const meanDecay = weightedDecay / transactions;
  const recent = Math.min(MAX_RECENT_PENDING, PENDING_SHARE / 2 / meanDecay);
  const base = PENDING_SHARE - recent * meanDecay;
  const pendingChance = new Float64Array(days);
  for (let d = 0; d < days; d++) pendingChance[d] = base + recent * decay[d]!;
  return { fromDay, counts, pendingChance };
}

/** Splits `total` into integer parts proportional to `weights` that add up exactly (largest remainder). */
function apportion(total: number, weights: Float64Array, weightSum: number): Int32Array {
  const counts = new Int32Array(weights.length);
  const remainders: Array<[index: number, remainder: number]> = [];
  let assigned = 0;
  for (let i = 0; i < weights.length; i++) {
    const quota = (total * weights[i]!) / weightSum;
    const whole = Math.floor(quota);
    counts[i] = whole;
    assigned += whole;
    remainders.push([i, quota - whole]);
  }
  remainders.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  for (let i = 0; i < total - assigned; i++) {
    const index = remainders[i]![0];
    counts[index] = counts[index]! + 1;
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------------------
// Writing. Rows are generated into column arrays and sent as one array literal per column through
// `INSERT ... SELECT * FROM unnest(...)`: one statement per batch, a handful of parameters whatever the
// batch size, and the same text on node-postgres and PGlite. The literals are built here rather than by
// the drivers because the two serialise JavaScript arrays differently and neither does it quickly.

type Table = 'customers' | 'products' | 'transactions';
type Column = readonly [name: string, type: string, literal: string];

async function insertColumns(db: Kysely<Database>, table: Table, columns: readonly Column[]): Promise<void> {
  const names = sql.join(columns.map(([name]) => sql.ref(name)));
  const arrays = sql.join(columns.map(([, type, literal]) => sql`${literal}::${sql.raw(type)}[]`));
  await sql`INSERT INTO ${sql.table(table)} (${names}) SELECT * FROM unnest(${arrays})`.execute(db);
}

interface DeferredIndex {
  schema: string;
  name: string;
  definition: string;
  comment: string | null;
}

interface DeferredForeignKey {
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
async function withDeferredIndexes(db: Kysely<Database>, table: Table, load: () => Promise<void>): Promise<void> {
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
    await sql`ALTER TABLE ${sql.table(table)} ADD CONSTRAINT ${sql.id(key.name)} ${sql.raw(key.definition)}`.execute(db);
    if (key.comment !== null) {
      await sql`COMMENT ON CONSTRAINT ${sql.id(key.name)} ON ${sql.table(table)} IS ${sql.lit(key.comment)}`.execute(db);
    }
  }
}

function numberArray(values: Int32Array | Float64Array, length: number): string {
  return `{${values.subarray(0, length).join(',')}}`;
}

/** For values built here from digits, letters, '-', ':', '.' and 'T', which need no quoting. */
function plainArray(values: readonly string[], length: number): string {
  return `{${(length === values.length ? values : values.slice(0, length)).join(',')}}`;
}

function textArray(values: readonly (string | null)[]): string {
  const quoted = values.map((value) => (value === null ? 'NULL' : `"${value.replace(/["\\]/g, '\\$&')}"`));
  return `{${quoted.join(',')}}`;
}

function idRange(first: number, length: number): Float64Array {
  const ids = new Float64Array(length);
  for (let i = 0; i < length; i++) ids[i] = first + i;
  return ids;
}

async function insertProducts(db: Kysely<Database>, plan: ProductPlan): Promise<void> {
  const { products } = plan;
  await insertColumns(db, 'products', [
    ['id', 'bigint', numberArray(idRange(1, products.length), products.length)],
    ['sku', 'text', textArray(products.map((product) => product.sku))],
    ['name', 'text', textArray(products.map((product) => product.name))],
    ['category', 'text', textArray(products.map((product) => product.category))],
    ['unit_price', 'numeric', plainArray(products.map((product) => formatCents(product.unitPriceCents)), products.length)],
  ]);
}

async function insertCustomers(db: Kysely<Database>, plan: CustomerPlan): Promise<void> {
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

const COMPLETED = 'completed';
const PENDING = 'pending';
const CANCELLED = 'cancelled';

async function insertTransactions(
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
      const product = pickWeighted(products.cumulativePopularity, productCount, uniformInt(rng, 0, popularityTotal - 1));
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
      statuses[filled] = roll < pendingChance ? PENDING : roll < pendingChance + CANCELLED_SHARE ? CANCELLED : COMPLETED;
      dates[filled] = dayPrefix + clock(seconds[i]!);
      filled++;
      if (filled === BATCH_ROWS) await flush();
    }
  }
  if (filled > 0) await flush();
  await inFlight;
}

// ---------------------------------------------------------------------------------------------------------
// Formatting: money from integer agorot, instants at whole seconds in UTC.

function formatCents(cents: number): string {
  const agorot = cents % 100;
  return `${(cents - agorot) / 100}.${agorot < 10 ? '0' : ''}${agorot}`;
}

const TWO_DIGITS = Array.from({ length: 60 }, (_, n) => String(n).padStart(2, '0'));

function clock(secondOfDay: number): string {
  const hour = Math.floor(secondOfDay / 3600);
  const minute = Math.floor((secondOfDay % 3600) / 60);
  return `${TWO_DIGITS[hour]}:${TWO_DIGITS[minute]}:${TWO_DIGITS[secondOfDay % 60]}Z`;
}

function isoInstant(epochSecond: number): string {
  return new Date(epochSecond * 1000).toISOString().replace('.000Z', 'Z');
}

/** Days since 1970-01-01 for a valid YYYY-MM-DD from 1900 to 9999; undefined otherwise. */
function parseDay(value: string): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const time = Date.UTC(year, month - 1, day);
  if (year < 1900 || formatDay(time / MS_PER_DAY) !== value) return undefined;
  return time / MS_PER_DAY;
}

function formatDay(day: number): string {
  return new Date(day * MS_PER_DAY).toISOString().slice(0, 10);
}
