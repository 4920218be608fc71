import { sql, type RawBuilder } from 'kysely';
import type { Database } from './database.js';

// Keyset (seek) pagination over one sort column plus the id as tie-breaker. Unlike OFFSET it visits every
// row exactly once even when rows are inserted between pages, and costs the same on page 1 and page 1,000.

export type SortDirection = 'asc' | 'desc';

/** The type of a sort column, which decides what its values look like as PostgreSQL prints them. */
export type SortValueType = 'numeric' | 'bigint' | 'timestamptz' | 'text';

/**
 * `Column` is the union of the columns a repository may sort by, spelled from the Database interface
 * (`ColumnOf<'v_customer_analytics'>`), so that an order naming a column that is gone fails the typecheck.
 */
export interface KeysetOrder<Column extends string = string> {
  /** Column to sort by; NULLs always come last. */
  column: Column;
  direction: SortDirection;
  nullable: boolean;
  valueType: SortValueType;
  /** Unique, non-null bigint tie-breaker, always ascending. */
  idColumn: Column;
}

/** A column of `Table`, qualified (`v_customer_analytics.name`) or, with `Qualified` false, bare. */
export type ColumnOf<Table extends keyof Database, Qualified extends boolean = true> = Qualified extends true
  ? `${Table}.${keyof Database[Table] & string}`
  : keyof Database[Table] & string;

/** Where a cursor points: the sort value (as PostgreSQL prints it) and the id of that row. */
export interface KeysetPosition {
  value: string | null;
  id: string;
}

export interface KeysetWindow {
  /** Rows after `after` in the order (forward) or before `before` (backward). */
  after?: KeysetPosition;
  before?: KeysetPosition;
  backward: boolean;
}

const BIGINT = /^-?\d{1,19}$/;
const INT8_MAX = 2n ** 63n - 1n;
const NUMERIC = /^-?\d{1,40}(?:\.\d{1,20})?$/;
// timestamptz::text in the ISO DateStyle: 2025-11-20 09:15:00.123+00, 1999-01-08 04:05:06+05:30, ... BC.
const TIMESTAMPTZ =
  /^(\d{4,6})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?[+-]\d{2}(?::[0-5]\d){0,2}(?: BC)?$/;
// Longer than any sort value the gateway prints (names included), and short enough to be cheap to refuse.
const MAX_TEXT_LENGTH = 2_000;

function isBigint(value: string): boolean {
  return BIGINT.test(value) && BigInt(value) <= INT8_MAX && BigInt(value) >= -INT8_MAX - 1n;
}

function isTimestamp(value: string): boolean {
  const match = TIMESTAMPTZ.exec(value);
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  return days !== undefined && day >= 1 && day <= days && hour <= 23 && minute <= 59 && second <= 59;
}

const SORT_VALUE_CHECKS: Record<SortValueType, (value: string) => boolean> = {
  numeric: (value) => NUMERIC.test(value),
  bigint: isBigint,
  timestamptz: isTimestamp,
  // PostgreSQL text cannot hold NUL.
  text: (value) => value.length <= MAX_TEXT_LENGTH && !value.includes('\u0000'),
};

/**
 * Whether a position (from a cursor) is one PostgreSQL can compare with the order's columns. Cursors are
 * signed, so this only matters when the signing secret is known to somebody else; even then a made-up
 * position must be refused as bad input rather than fail in PostgreSQL.
 */
export function isKeysetPosition(order: KeysetOrder, position: KeysetPosition): boolean {
  if (!isBigint(position.id)) return false;
  if (position.value === null) return order.nullable;
  return SORT_VALUE_CHECKS[order.valueType](position.value);
}

/** The rows strictly after `p` in the order. */
function afterPosition(order: KeysetOrder, p: KeysetPosition): RawBuilder<boolean> {
  const col = sql.ref(order.column);
  const id = sql.ref(order.idColumn);
  if (p.value === null) return sql<boolean>`(${col} IS NULL AND ${id} > ${p.id})`;
  const beyond = order.direction === 'asc' ? sql`${col} > ${p.value}` : sql`${col} < ${p.value}`;
  if (order.nullable) return sql<boolean>`(${beyond} OR (${col} = ${p.value} AND ${id} > ${p.id}) OR ${col} IS NULL)`;
  // The plain bound is implied by the rest; it is there so that an index on the column starts at the cursor.
  const bound = order.direction === 'asc' ? sql`${col} >= ${p.value}` : sql`${col} <= ${p.value}`;
  return sql<boolean>`(${bound} AND (${beyond} OR (${col} = ${p.value} AND ${id} > ${p.id})))`;
}

/** The rows strictly before `p` in the order. */
function beforePosition(order: KeysetOrder, p: KeysetPosition): RawBuilder<boolean> {
  const col = sql.ref(order.column);
  const id = sql.ref(order.idColumn);
  if (p.value === null) return sql<boolean>`(${col} IS NOT NULL OR ${id} < ${p.id})`;
  const ahead = order.direction === 'asc' ? sql`${col} < ${p.value}` : sql`${col} > ${p.value}`;
  const bound = order.direction === 'asc' ? sql`${col} <= ${p.value}` : sql`${col} >= ${p.value}`;
  return sql<boolean>`(${bound} AND (${ahead} OR (${col} = ${p.value} AND ${id} < ${p.id})))`;
}

export function keysetWhere(order: KeysetOrder, window: KeysetWindow): RawBuilder<boolean> | undefined {
  const parts: RawBuilder<boolean>[] = [];
  if (window.after) parts.push(afterPosition(order, window.after));
  if (window.before) parts.push(beforePosition(order, window.before));
  if (parts.length === 0) return undefined;
  return sql<boolean>`${sql.join(parts, sql` AND `)}`;
}

/** ORDER BY for the window: the natural order forward, its exact reverse backward (rows then get flipped). */
export function keysetOrderBy(order: KeysetOrder, backward: boolean): RawBuilder<unknown> {
  const col = sql.ref(order.column);
  const id = sql.ref(order.idColumn);
  const dir = (order.direction === 'asc') !== backward ? sql`ASC` : sql`DESC`;
  // NULLS is spelled out only where nulls exist: a NOT NULL column then matches a plain index either way.
  const nulls = !order.nullable ? sql`` : backward ? sql` NULLS FIRST` : sql` NULLS LAST`;
  const idDir = backward ? sql`DESC` : sql`ASC`;
  return sql`${col} ${dir}${nulls}, ${id} ${idDir}`;
}

/** The sort value of a row as text, exactly as a later cursor comparison needs it. */
export function keysetValue(order: KeysetOrder): RawBuilder<string | null> {
  return sql<string | null>`(${sql.ref(order.column)})::text`;
}
