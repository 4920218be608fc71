import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/database.js';
import {
  createPlaceholderCustomers,
  createPlaceholderProducts,
  findCustomerIds,
  findProductIds,
  upsertTransactions,
} from './ingest.repository.js';
import type { RejectedRow, TransactionRow } from './transaction-row.js';

export interface IngestOptions {
  /** Write nothing at all if any row is refused (one transaction for the whole input). */
  strict?: boolean;
  /** Create placeholder customers and products for unknown ids instead of refusing their rows. */
  createMissing?: boolean;
  /** Rows per batch (and per transaction, without `strict`). */
  batchSize?: number;
  /** Called after each batch is committed (without `strict`) or written (with it). */
  onBatch?(report: BatchReport): void;
}

export interface BatchReport {
  batch: number;
  firstLine: number;
  lastLine: number;
  rows: number;
}

export interface IngestSummary {
  /** Data rows read (the header not counted). */
  rows: number;
  /** Refused rows, by line. */
  rejected: RejectedRow[];
  inserted: number;
  updated: number;
  /** Good rows that were already stored as they are (re-sent unchanged), or repeated later in the input. */
  unchanged: number;
  /** Batches committed (without `strict`), or written in the one transaction that was committed. */
  batches: number;
  createdCustomers: number;
  createdProducts: number;
  /** False when `strict` found bad rows and rolled everything back. */
  committed: boolean;
  seconds: number;
}

/** A batch failed at the database: it was rolled back, the batches before it stay, none after it was tried. */
export class IngestFailure extends Error {
  constructor(
    readonly batch: BatchReport,
    readonly summary: IngestSummary,
    cause: unknown,
  ) {
    super(
      `batch ${batch.batch} (lines ${batch.firstLine}-${batch.lastLine}) failed and was rolled back: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.name = 'IngestFailure';
  }
}

// Each batch pays a fixed cost in the rollup triggers (recounting the distinct customers of every day, week and
// month it touches), which a feed that is not in date order makes large: 1,000,000 shuffled rows took 74 s in
// batches of 10,000 and 44 s in batches of 50,000 (27 s in date order). A batch of 50,000 commits in 1-3 s.
export const DEFAULT_BATCH_SIZE = 50_000;

class StrictRollback extends Error {}

/**
 * Loads validated rows into `transactions`, batch by batch. Without `strict`, each batch is a transaction
 * of its own: an interruption (a database error, a killed process) leaves whole batches only, and running
 * the same input again completes it, since rows are keyed by transaction id. With `strict`, every batch is
 * written inside one transaction that is rolled back if any row was refused. Unknown customers and products
 * are looked up in each batch's transaction. Writes fire the change feed, so cached answers are invalidated.
 */
export async function ingestTransactions(
  db: Kysely<Database>,
  source: AsyncIterable<TransactionRow | RejectedRow>,
  options: IngestOptions = {},
): Promise<IngestSummary> {
  const started = performance.now();
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const summary: IngestSummary = {
    rows: 0,
    rejected: [],
    inserted: 0,
    updated: 0,
    unchanged: 0,
    batches: 0,
    createdCustomers: 0,
    createdProducts: 0,
    committed: true,
    seconds: 0,
  };
  const knownCustomers = new Set<string>();
  const knownProducts = new Set<string>();

  /** The rows of `rows` whose customer and product exist (or were just made); the others are refused. */
  const resolveReferences = async (trx: Kysely<Database>, rows: TransactionRow[]): Promise<TransactionRow[]> => {
    const missingCustomers = await missing(trx, rows, (row) => row.customerId, knownCustomers, findCustomerIds);
    const missingProducts = await missing(trx, rows, (row) => row.productId, knownProducts, findProductIds);
    if (options.createMissing) {
      await createPlaceholderCustomers(trx, [...missingCustomers]);
      await createPlaceholderProducts(trx, [...missingProducts]);
      summary.createdCustomers += missingCustomers.size;
      summary.createdProducts += missingProducts.size;
      for (const id of missingCustomers) knownCustomers.add(id);
      for (const id of missingProducts) knownProducts.add(id);
      return rows;
    }
    if (missingCustomers.size === 0 && missingProducts.size === 0) return rows;
    const good: TransactionRow[] = [];
    for (const row of rows) {
      if (missingCustomers.has(row.customerId)) {
        summary.rejected.push({
          line: row.line,
          reason: `customer_id ${row.customerId} is not a known customer (--create-missing would create it)`,
        });
      } else if (missingProducts.has(row.productId)) {
        summary.rejected.push({
          line: row.line,
          reason: `product_id ${row.productId} is not a known product (--create-missing would create it)`,
        });
      } else {
        good.push(row);
      }
    }
    return good;
  };

  const writeBatch = async (trx: Kysely<Database>, rows: TransactionRow[], report: BatchReport) => {
    const good = await resolveReferences(trx, rows);
    // In strict mode nothing is written after the first refusal; the lookups above still report every row.
    if (options.strict && summary.rejected.length > 0) return;
    const counts = await upsertTransactions(trx, good);
    summary.inserted += counts.inserted;
    summary.updated += counts.updated;
    summary.unchanged += good.length - counts.inserted - counts.updated;
    summary.batches += 1;
    options.onBatch?.(report);
  };

  const run = async (write: (rows: TransactionRow[], report: BatchReport) => Promise<void>) => {
    // Repeated ids in one batch would make one INSERT touch a row twice; the last occurrence wins, as it
    // would have in separate batches.
    let batch = new Map<string, TransactionRow>();
    let duplicatesInBatch = 0;
    let number = 0;
    // One batch is written while the next is read and checked.
    let inFlight: Promise<void> = Promise.resolve();
    const flush = async () => {
      if (batch.size === 0) return;
      const rows = [...batch.values()];
      summary.unchanged += duplicatesInBatch;
      batch = new Map();
      duplicatesInBatch = 0;
      number += 1;
      let firstLine = Infinity;
      let lastLine = 0;
      for (const row of rows) {
        if (row.line < firstLine) firstLine = row.line;
        if (row.line > lastLine) lastLine = row.line;
      }
      const report: BatchReport = { batch: number, firstLine, lastLine, rows: rows.length };
      await inFlight;
      inFlight = write(rows, report).catch((error: unknown) => {
        if (error instanceof IngestFailure || error instanceof StrictRollback) throw error;
        throw new IngestFailure(report, summary, error);
      });
      // Reported when awaited (at the next flush or at the end); this only keeps Node from calling it unhandled.
      inFlight.catch(() => undefined);
    };
    try {
      for await (const item of source) {
        summary.rows += 1;
        if ('reason' in item) {
          summary.rejected.push(item);
          continue;
        }
        if (batch.has(item.id)) {
          batch.delete(item.id);
          duplicatesInBatch += 1;
        }
        batch.set(item.id, item);
        if (batch.size >= batchSize) await flush();
      }
    } catch (error) {
      // The input failed (an I/O error): let the batch being written settle before the caller closes the pool.
      await inFlight.catch(() => undefined);
      throw error;
    }
    await flush();
    await inFlight;
  };

  try {
    if (options.strict) {
      await db.transaction().execute(async (trx: Transaction<Database>) => {
        await run((rows, report) => writeBatch(trx, rows, report));
        if (summary.rejected.length > 0) throw new StrictRollback();
      });
    } else {
      await run((rows, report) => db.transaction().execute((trx) => writeBatch(trx, rows, report)));
    }
  } catch (error) {
    if (!(error instanceof StrictRollback)) throw error;
    summary.committed = false;
    summary.inserted = 0;
    summary.updated = 0;
    summary.unchanged = 0;
    summary.batches = 0;
    summary.createdCustomers = 0;
    summary.createdProducts = 0;
  } finally {
    summary.rejected.sort((a, b) => a.line - b.line);
    summary.seconds = Math.round(performance.now() - started) / 1000;
  }
  return summary;
}

async function missing(
  db: Kysely<Database>,
  rows: readonly TransactionRow[],
  idOf: (row: TransactionRow) => string,
  known: Set<string>,
  find: (db: Kysely<Database>, ids: readonly string[]) => Promise<Set<string>>,
): Promise<Set<string>> {
  const unknown = new Set<string>();
  for (const row of rows) {
    const id = idOf(row);
    if (!known.has(id)) unknown.add(id);
  }
  if (unknown.size === 0) return unknown;
  const found = await find(db, [...unknown]);
  for (const id of found) {
    known.add(id);
    unknown.delete(id);
  }
  return unknown;
}
