import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { readToolEnvironment, type ToolEnvironment } from '../config/config.js';
import {
  consoleOutput,
  count,
  invokedDirectly,
  rowsPerSecond,
  type CommandOutput,
  type OpenDatabase,
} from './command.js';
import { connectPostgres } from '../db/postgres-connector.js';
import { TRANSACTION_DATE_RANGE } from '../db/transaction-date-range.js';
import { readTransactionCsv } from '../ingest/csv-source.js';
import {
  DEFAULT_BATCH_SIZE,
  IngestFailure,
  ingestTransactions,
  type IngestSummary,
} from '../ingest/ingest-transactions.js';
import { COLUMNS, HeaderError, STATUSES } from '../ingest/transaction-row.js';

export const EXIT_OK = 0;
/** Some rows were refused: without --strict the good ones were written, with it nothing was. */
export const EXIT_REJECTED = 1;
/** Bad arguments, no DATABASE_URL, an unreadable file or header: nothing was written. */
export const EXIT_USAGE = 2;
/** A batch failed at the database: the batches before it were written, none after (with --strict, none). */
export const EXIT_FAILED = 3;

export const USAGE = `Usage: npm run ingest -- [options] [FILE.csv | -]

Loads transactions from a CSV file (or standard input, with - or no FILE) into DATABASE_URL.

The first line names the columns, in any order: ${COLUMNS.join(',')}
  id, customer_id, product_id  positive integers
  quantity                     integer from 1
  amount                       >= 0, at most 2 decimals (e.g. 1499.90)
  status                       ${STATUSES.join(' | ')}
  transaction_date             ISO 8601 with an offset (2025-03-10T12:00:00Z, 2025-03-10T14:00:00+02:00),
                               ${TRANSACTION_DATE_RANGE}

A transaction id already stored takes the row's status, amount and quantity (nothing is duplicated);
its customer, product and date stay as first written.

  --strict            write nothing at all if any row is refused (one transaction for the whole input)
  --create-missing    create placeholder customers and products for unknown ids instead of refusing their rows
  --batch-size N      rows per batch and transaction (default ${DEFAULT_BATCH_SIZE.toLocaleString('en-US')})
  -h, --help          show this help

Exit status: 0 every row written; 1 rows refused (listed by line on stderr); 2 bad arguments or input;
3 a batch failed at the database (earlier batches are written, later ones not).
Environment: DATABASE_DIRECT_URL, else DATABASE_URL (required).`;

export type { CommandOutput, OpenDatabase } from './command.js';

interface IngestCommand {
  file: string | undefined;
  strict: boolean;
  createMissing: boolean;
  batchSize: number;
}

/** The command, 'help', or the usage error to print. */
function parseCommand(args: string[]): IngestCommand | string {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        strict: { type: 'boolean', default: false },
        'create-missing': { type: 'boolean', default: false },
        'batch-size': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (positionals.length > 1) return `one input at most; got ${positionals.length}`;
  const size = values['batch-size'];
  const batchSize = size === undefined ? DEFAULT_BATCH_SIZE : /^\d+$/.test(size) ? Number(size) : Number.NaN;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 100_000)
    return `--batch-size must be an integer from 1 to 100000; got '${size}'`;
  const file = positionals[0] === '-' ? undefined : positionals[0];
  return { file, strict: values.strict, createMissing: values['create-missing'], batchSize };
}

function describeSummary(summary: IngestSummary, strict: boolean): string {
  const written = `${count(summary.inserted)} inserted, ${count(summary.updated)} updated, ${count(summary.unchanged)} unchanged`;
  const created =
    summary.createdCustomers + summary.createdProducts > 0
      ? `; created ${count(summary.createdCustomers)} placeholder customers and ${count(summary.createdProducts)} placeholder products`
      : '';
  const rate = rowsPerSecond(summary.rows, summary.seconds);
  const head = `read ${count(summary.rows)} rows: ${count(summary.rejected.length)} refused`;
  if (!summary.committed) return `${head}; --strict: nothing was written (${summary.seconds.toFixed(1)} s)`;
  return `${head}, ${written}${created}; ${count(summary.batches)} batch(es) ${strict ? 'in one transaction' : 'committed'} in ${summary.seconds.toFixed(1)} s (${rate} rows/s)`;
}

/** Runs `ingest` with the given arguments and returns the exit code; output goes through `output`. */
export async function runIngestCommand(
  args: string[],
  environment: ToolEnvironment,
  output: CommandOutput = consoleOutput,
  stdin: Readable = process.stdin,
  open: OpenDatabase = connectPostgres,
): Promise<number> {
  const command = parseCommand(args);
  if (command === 'help') {
    output.out(USAGE);
    return EXIT_OK;
  }
  if (typeof command === 'string') {
    output.err(`ingest: ${command}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (!environment.databaseUrl) {
    output.err('ingest: DATABASE_URL is not set; point it at the PostgreSQL to load');
    return EXIT_USAGE;
  }
  const input = command.file === undefined ? stdin : createReadStream(command.file);
  // Bulk batches may rightly outlast the API's per-statement limit.
  const handle = open(environment.databaseUrl, { poolMax: 2, statementTimeoutMs: 0 });
  const reportRejected = (summary: IngestSummary) => {
    for (const row of summary.rejected) output.err(`line ${row.line}: ${row.reason}`);
  };
  try {
    const summary = await ingestTransactions(handle.db, readTransactionCsv(input), {
      strict: command.strict,
      createMissing: command.createMissing,
      batchSize: command.batchSize,
      // Progress, and where a rerun would pick up: each line is a batch that is safely stored.
      onBatch: (batch) =>
        output.out(
          `batch ${batch.batch}: lines ${batch.firstLine}-${batch.lastLine}, ${count(batch.rows)} row(s) ${command.strict ? 'written' : 'committed'}`,
        ),
    });
    reportRejected(summary);
    output.out(describeSummary(summary, command.strict));
    return summary.rejected.length > 0 ? EXIT_REJECTED : EXIT_OK;
  } catch (error) {
    if (
      error instanceof HeaderError ||
      (error as { code?: string }).code === 'ENOENT' ||
      (error as { code?: string }).code === 'EISDIR'
    ) {
      output.err(`ingest: ${error instanceof Error ? error.message : String(error)}; nothing was written`);
      return EXIT_USAGE;
    }
    if (error instanceof IngestFailure) {
      reportRejected(error.summary);
      output.err(
        command.strict
          ? `ingest: ${error.message}; --strict: nothing was written`
          : `ingest: ${error.message}; ${count(error.summary.batches)} earlier batch(es) were committed, nothing after line ${error.batch.firstLine - 1} was written`,
      );
      return EXIT_FAILED;
    }
    output.err(`ingest: failed: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_FAILED;
  } finally {
    input.destroy();
    await handle.close();
  }
}

// Imported (by the tests) it only exports; run as a script it ingests.
if (invokedDirectly(import.meta.url)) {
  process.exitCode = await runIngestCommand(process.argv.slice(2), readToolEnvironment());
}
