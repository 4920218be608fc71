import { parseArgs } from 'node:util';
import { maskPassword, readToolEnvironment, type ToolEnvironment } from '../config/config.js';
import {
  consoleOutput,
  count,
  invokedDirectly,
  rowsPerSecond,
  type CommandOutput,
  type OpenDatabase,
} from './command.js';
import { connectPostgres } from '../db/postgres-connector.js';
import { UNDEFINED_TABLE } from '../db/migrator.js';
import { CATALOGUE_BY_ROTATION } from '../seed/catalogue.js';
import { isDatabaseEmpty, seedDatabase } from '../seed/seed-database.js';
import {
  DEFAULT_DAYS,
  DEFAULT_SEED,
  MAX_DAYS,
  resolveSeedOptions,
  SeedOptionsError,
  type SeedOptions,
} from '../seed/seed-options.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export const USAGE = `Usage: npm run seed -- --transactions N [options]

Loads deterministic demo data into DATABASE_URL (run \`npm run migrate\` first).

  --transactions N    number of transactions to generate (required)
  --seed S            random seed, 0..4294967295 (default ${DEFAULT_SEED}); same options, same data
  --customers C       number of customers (default transactions / 20, clamped to 50..50000)
  --products P        products taken from the catalogue, 1..${CATALOGUE_BY_ROTATION.length} (default ${Math.min(48, CATALOGUE_BY_ROTATION.length)})
  --days D            days of sales history, 1..${MAX_DAYS} (default ${DEFAULT_DAYS})
  --until YYYY-MM-DD  last day of data, UTC (default today); fix it to get the same data on another day
  --if-empty          do nothing (exit 0) when the tables already hold data
  --reset             replace existing data (in the same transaction as the new rows)
  -h, --help          show this help

Environment: DATABASE_DIRECT_URL, else DATABASE_URL (required). The rollups are rebuilt in the database's report
zone (npm run rollups changes it).`;

export type { CommandOutput, OpenDatabase } from './command.js';

class UsageError extends Error {}

interface SeedCommand {
  options: SeedOptions;
  ifEmpty: boolean;
  reset: boolean;
}

function parseCommand(args: string[]): SeedCommand | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        transactions: { type: 'string' },
        seed: { type: 'string' },
        customers: { type: 'string' },
        products: { type: 'string' },
        days: { type: 'string' },
        until: { type: 'string' },
        'if-empty': { type: 'boolean', default: false },
        reset: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return 'help';

  const problems: string[] = [];
  const integer = (name: string, text: string | undefined, min: number): number | undefined => {
    if (text === undefined) return undefined;
    const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min) {
      problems.push(`--${name} must be ${min === 0 ? 'a non-negative' : 'a positive'} integer, got '${text}'`);
      return undefined;
    }
    return value;
  };
  const transactions = integer('transactions', values.transactions, 1);
  if (values.transactions === undefined) problems.push('--transactions is required');
  const options: SeedOptions = {
    transactions: transactions ?? 1,
    seed: integer('seed', values.seed, 0),
    customers: integer('customers', values.customers, 1),
    products: integer('products', values.products, 1),
    days: integer('days', values.days, 1),
    until: values.until,
  };
  if (values['if-empty'] && values.reset) problems.push('--if-empty and --reset exclude each other');
  if (problems.length === 0) {
    try {
      resolveSeedOptions(options);
    } catch (error) {
      if (!(error instanceof SeedOptionsError)) throw error;
      problems.push(...error.problems.map((problem) => `--${problem}`));
    }
  }
  if (problems.length === 1) throw new UsageError(problems[0]);
  if (problems.length > 1) throw new UsageError(`invalid arguments:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return { options, ifEmpty: values['if-empty'], reset: values.reset };
}

function redact(url: string): string {
  try {
    return maskPassword(url);
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return describe(error.errors[0]);
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return error.message || (typeof code === 'string' ? code : error.name);
  }
  return String(error);
}

/** Runs `seed` with the given arguments and returns the process exit code; output goes through `output`. */
export async function runSeedCommand(
  args: string[],
  environment: ToolEnvironment,
  output: CommandOutput = consoleOutput,
  open: OpenDatabase = connectPostgres,
): Promise<number> {
  let command: SeedCommand | 'help';
  try {
    command = parseCommand(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    output.err(`seed: ${error.message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (command === 'help') {
    output.out(USAGE);
    return EXIT_OK;
  }
  const { databaseUrl } = environment;
  if (!databaseUrl) {
    output.err(
      'seed: DATABASE_URL is not set; point it at the PostgreSQL to load, e.g. postgres://postgres@127.0.0.1:5432/marketpulse',
    );
    return EXIT_USAGE;
  }

  const target = redact(databaseUrl);
  // Bulk batches and ANALYZE on a large table may rightly outlast the API's per-statement limit.
  const handle = open(databaseUrl, { poolMax: 2, statementTimeoutMs: 0 });
  try {
    let empty: boolean;
    try {
      empty = await isDatabaseEmpty(handle.db);
    } catch (error) {
      if ((error as { code?: unknown }).code === UNDEFINED_TABLE) {
        output.err(`seed: the tables do not exist in ${target}; run \`npm run migrate\` first`);
      } else {
        output.err(`seed: cannot read ${target}: ${describe(error)}`);
      }
      return EXIT_FAILED;
    }
    if (!empty && command.ifEmpty) {
      output.out(`seed: ${target} already holds data; left unchanged (--if-empty)`);
      return EXIT_OK;
    }
    if (!empty && !command.reset) {
      output.err(`seed: ${target} already holds data; pass --reset to replace it, or --if-empty to keep it`);
      return EXIT_FAILED;
    }
    const summary = await seedDatabase(handle.db, { ...command.options, reset: !empty });
    const rows = summary.customers + summary.products + summary.transactions;
    output.out(
      `seeded ${count(summary.transactions)} transactions, ${count(summary.customers)} customers and ` +
        `${count(summary.products)} products from ${summary.from} to ${summary.until} in ` +
        `${summary.seconds.toFixed(1)} s (${rowsPerSecond(rows, summary.seconds)} rows/s)`,
    );
    return EXIT_OK;
  } catch (error) {
    output.err(`seed: failed: ${describe(error)}`);
    return EXIT_FAILED;
  } finally {
    await handle.close();
  }
}

// Imported (by the tests) it only exports; run as a script it seeds.
if (invokedDirectly(import.meta.url)) {
  process.exitCode = await runSeedCommand(process.argv.slice(2), readToolEnvironment());
}
