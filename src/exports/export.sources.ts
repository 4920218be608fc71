import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import type { KeysetPosition } from '../db/keyset.js';
import {
  countCustomers,
  customerOrder,
  findCustomerPage,
  type CustomerFilter,
  type CustomerRecord,
  type CustomerSortField,
} from '../modules/customers/customer.repository.js';
import { Customer } from '../modules/customers/customer.type.js';
import {
  countProducts,
  findProductPage,
  productOrder,
  type ProductFilter,
  type ProductRecord,
  type ProductSortField,
} from '../modules/products/product.repository.js';
import { Product } from '../modules/products/product.type.js';
import { bucketCount } from '../modules/revenue/revenue.buckets.js';
import type { DayBounds } from '../modules/revenue/revenue.periods.js';
import { readRevenuePoints } from '../modules/revenue/revenue.repository.js';
import { resolveRevenueSeries } from '../modules/revenue/revenue.resolver.js';
import { RevenuePoint, type Granularity } from '../modules/revenue/revenue.type.js';
import type { Sort } from './export.params.js';

// Every read an export makes, in one place, through the modules' repositories and on the `db` it is given (the
// primary today; a read replica's handle would do as well). Customers and products are read in keyset batches,
// the repositories' own pagination: one statement per batch, each on a pooled connection taken for that
// statement only, so a client downloading slowly holds no connection between batches. Each batch sees the data
// as it is when it runs, as successive GraphQL pages do: a row whose sort value changes during an export may be
// missed or written twice. A revenue series is one statement (at most MAX_SERIES_POINTS points).

/** Rows per keyset batch: one statement, and about 150 KB of CSV for customers. */
export const EXPORT_BATCH_SIZE = 1_000;

export interface ExportSource<Row extends object> {
  /** How many rows the export holds, with its filters, to price it before the first row (at most one statement). */
  count(): Promise<number>;
  /**
   * The rows, a batch at a time; the next batch is read only when the one before has been taken, and none once
   * `signal` is aborted.
   */
  batches(signal: AbortSignal): AsyncGenerator<Row[], void, undefined>;
}

/** Forward keyset batches over a page reader that returns up to `limit + 1` rows after a position. */
async function* keysetBatches<Found extends { id: string }, Row>(
  readPage: (after: KeysetPosition | undefined, limit: number) => Promise<(Found & { sortKey: string | null })[]>,
  toRow: (found: Found) => Row,
  signal: AbortSignal,
  batchSize: number,
): AsyncGenerator<Row[], void, undefined> {
  let after: KeysetPosition | undefined;
  while (!signal.aborted) {
    const records = await readPage(after, batchSize);
    const batch = records.slice(0, batchSize);
    if (batch.length > 0) yield batch.map(toRow);
    // The extra row says whether another batch exists, which spares a last, empty statement.
    if (records.length <= batchSize) return;
    const last = batch.at(-1)!;
    after = { value: last.sortKey, id: last.id };
  }
}

export function customerSource(
  db: Kysely<Database>,
  filter: CustomerFilter,
  sort: Sort<CustomerSortField>,
  batchSize = EXPORT_BATCH_SIZE,
): ExportSource<Customer> {
  const order = customerOrder(sort.field, sort.direction);
  return {
    count: () => countCustomers(db, filter),
    batches: (signal) =>
      keysetBatches(
        (after, limit) => findCustomerPage(db, filter, order, { after, backward: false, limit }),
        (found: CustomerRecord) => Customer.from(found),
        signal,
        batchSize,
      ),
  };
}

export function productSource(
  db: Kysely<Database>,
  filter: ProductFilter,
  sort: Sort<ProductSortField>,
  batchSize = EXPORT_BATCH_SIZE,
): ExportSource<Product> {
  const order = productOrder(sort.field, sort.direction);
  return {
    count: () => countProducts(db, filter),
    batches: (signal) =>
      keysetBatches(
        (after, limit) => findProductPage(db, filter, order, { after, backward: false, limit }),
        (found: ProductRecord) => Product.from(found),
        signal,
        batchSize,
      ),
  };
}

export interface RevenueSource extends ExportSource<RevenuePoint> {
  /** The days the series covers, open ends taken from the data as `revenue` takes them; null without data. */
  days: DayBounds | null;
}

/**
 * The series `revenue(from, to, granularity)` answers, resolved as the GraphQL field resolves it (one statement
 * when an end is open; BAD_USER_INPUT naming `from` past MAX_SERIES_POINTS buckets). Counting its points needs
 * no statement.
 */
export async function revenueSource(
  db: Kysely<Database>,
  from: string | undefined,
  to: string | undefined,
  granularity: Granularity,
): Promise<RevenueSource> {
  const series = await resolveRevenueSeries(db, from ?? null, to ?? null, granularity);
  const days = series.range;
  return {
    days,
    count: async () => (days ? bucketCount(days.from, days.to, granularity) : 0),
    async *batches(signal) {
      if (!days || signal.aborted) return;
      const points = await readRevenuePoints(db, days, granularity);
      yield points.map((point) => Object.assign(new RevenuePoint(), point));
    },
  };
}
