import { sql, type RawBuilder } from 'kysely';

// Keyset (seek) pagination over one sort column plus the id as tie-breaker. Unlike OFFSET it visits every
// row exactly once even when rows are inserted between pages, and costs the same on page 1 and page 1,000.

export type SortDirection = 'asc' | 'desc';

export interface KeysetOrder {
  /** Column to sort by; NULLs always come last. */
  column: string;
  direction: SortDirection;
  nullable: boolean;
  /** Unique, non-null tie-breaker, always ascending. */
  idColumn: string;
}

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
