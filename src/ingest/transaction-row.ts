import {
  EARLIEST_TRANSACTION_DATE,
  LATEST_TRANSACTION_DATE,
  TRANSACTION_DATE_RANGE,
} from '../db/transaction-date-range.js';

// One CSV row of the transaction feed, checked field by field. The columns mirror the transactions table;
// every value that passes is already in the form PostgreSQL reads, so the batch writer sends it as text.

export const COLUMNS = ['id', 'customer_id', 'product_id', 'quantity', 'amount', 'status', 'transaction_date'] as const;
export type ColumnName = (typeof COLUMNS)[number];

export const STATUSES = ['completed', 'pending', 'cancelled'] as const;

/** A valid row: ids, quantity and amount as digit strings, the date as ISO 8601 with its offset. */
export interface TransactionRow {
  line: number;
  id: string;
  customerId: string;
  productId: string;
  quantity: string;
  amount: string;
  status: string;
  transactionDate: string;
}

export interface RejectedRow {
  line: number;
  reason: string;
}

// bigint ids: positive, at most 18 digits (below 2^63 whatever the digits).
const ID = /^[1-9]\d{0,17}$/;
const MAX_QUANTITY = 2_147_483_647;
// numeric(12,2): up to ten digits before the point, at most two after it, never negative.
const AMOUNT = /^\d{1,10}(?:\.\d{1,2})?$/;
const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?(?:Z|([+-])(\d{2}):?(\d{2}))$/;

const EARLIEST_MS = Date.parse(EARLIEST_TRANSACTION_DATE);
const LATEST_MS = Date.parse(LATEST_TRANSACTION_DATE);

/** Milliseconds since 1970 of a UTC wall time; Date.UTC alone would read the years 0 to 99 as 1900 to 1999. */
function utcMs(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}

function daysInMonth(year: number, month: number): number {
  return new Date(utcMs(year, month + 1, 0)).getUTCDate();
}

function checkInstant(text: string): string | undefined {
  const match = ISO_INSTANT.exec(text);
  if (!match)
    return 'must be ISO 8601 with a time and an offset, e.g. 2025-03-10T12:00:00Z or 2025-03-10T14:00:00+02:00';
  const [, y, mo, d, h, mi, s, sign, oh, om] = match;
  const year = Number(y);
  const month = Number(mo);
  if (year < 1) return 'has a year before 0001';
  if (month < 1 || month > 12) return 'has no such month';
  if (Number(d) < 1 || Number(d) > daysInMonth(year, month)) return 'has no such day';
  if (Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 59) return 'has no such time of day';
  if (oh !== undefined && (Number(oh) > 15 || Number(om) > 59)) return 'has no such offset';
  // The offset decides the instant: 9999-12-31T23:59:59-15:00 is in the year 10000 in UTC. A fraction of a
  // second never carries an instant across a bound, since both bounds are whole seconds.
  const offsetMs = sign === undefined ? 0 : (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om)) * 60_000;
  const instant = utcMs(year, month, Number(d), Number(h), Number(mi), Number(s ?? 0)) - offsetMs;
  if (instant < EARLIEST_MS || instant >= LATEST_MS) {
    return `must be ${TRANSACTION_DATE_RANGE}, the range the reports can show`;
  }
  return undefined;
}

/**
 * Checks one record (fields in the header's order, `positions` mapping column to field index) and returns
 * the row or the first reason it is refused, naming the column and the value.
 */
export function validateRecord(
  fields: readonly string[],
  positions: Readonly<Record<ColumnName, number>>,
  line: number,
): TransactionRow | RejectedRow {
  const value = (column: ColumnName) => fields[positions[column]]!.trim();
  const refuse = (column: ColumnName, why: string): RejectedRow => {
    const shown = value(column);
    return {
      line,
      reason: `${column} ${why}; got ${shown === '' ? 'nothing' : `'${shown.length > 40 ? `${shown.slice(0, 40)}...` : shown}'`}`,
    };
  };

  const id = value('id');
  if (!ID.test(id)) return refuse('id', 'must be a positive integer');
  const customerId = value('customer_id');
  if (!ID.test(customerId)) return refuse('customer_id', 'must be a positive integer');
  const productId = value('product_id');
  if (!ID.test(productId)) return refuse('product_id', 'must be a positive integer');
  const quantity = value('quantity');
  if (!/^\d{1,10}$/.test(quantity) || Number(quantity) < 1 || Number(quantity) > MAX_QUANTITY) {
    return refuse('quantity', `must be an integer from 1 to ${MAX_QUANTITY}`);
  }
  const amount = value('amount');
  if (!AMOUNT.test(amount))
    return refuse('amount', 'must be a number >= 0 with at most 2 decimals and 10 digits before the point');
  const status = value('status');
  if (!(STATUSES as readonly string[]).includes(status))
    return refuse('status', `must be one of ${STATUSES.join(', ')}`);
  const transactionDate = value('transaction_date');
  const dateProblem = checkInstant(transactionDate);
  if (dateProblem) return refuse('transaction_date', dateProblem);
  return { line, id, customerId, productId, quantity, amount, status, transactionDate };
}

/** Where each column is in the header; throws naming every missing, unknown or repeated column. */
export function readHeader(header: readonly string[]): Record<ColumnName, number> {
  const names = header.map((name) => name.trim().toLowerCase());
  const problems: string[] = [];
  const positions = {} as Record<ColumnName, number>;
  for (const column of COLUMNS) {
    const at = names.indexOf(column);
    if (at < 0) problems.push(`missing column ${column}`);
    else if (names.indexOf(column, at + 1) >= 0) problems.push(`column ${column} appears twice`);
    else positions[column] = at;
  }
  for (const name of names) {
    if (!(COLUMNS as readonly string[]).includes(name)) problems.push(`unknown column '${name}'`);
  }
  if (problems.length > 0) {
    throw new HeaderError(
      `the header must name the columns ${COLUMNS.join(',')} (in any order): ${problems.join('; ')}`,
    );
  }
  return positions;
}

export class HeaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HeaderError';
  }
}
