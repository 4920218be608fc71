import {
  EARLIEST_TRANSACTION_DATE,
  LATEST_TRANSACTION_DATE,
  TRANSACTION_DATE_RANGE,
} from '../db/transaction-date-range.js';
import { CATALOGUE_BY_ROTATION } from './catalogue.js';
import { formatDay, MS_PER_DAY, parseDay } from './seed-format.js';

// What a seed is asked for and how the options are checked and completed, every problem named at once.

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
    problems.push(
      `until must be a date YYYY-MM-DD from ${formatDay(earliestDay)} to ${formatDay(latestDay)}, got ${options.until}`,
    );
  } else if (untilDay - resolved.days + 1 < earliestDay) {
    problems.push(
      `days: ${resolved.days} days ending at ${formatDay(untilDay)} begin before ${formatDay(earliestDay)}; transaction dates must be ${TRANSACTION_DATE_RANGE}`,
    );
  }
  if (problems.length > 0) throw new SeedOptionsError(problems);
  const day = untilDay as number;
  return { ...resolved, from: formatDay(day - resolved.days + 1), until: formatDay(day) };
}
