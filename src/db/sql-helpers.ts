import { sql, type Expression, type RawBuilder } from 'kysely';

// The one place where database values become API values: counts to int4 (a JavaScript number on every
// driver), money to text with two decimals, instants to ISO 8601 UTC text. Nothing passes through a float.
// They take expressions (`eb.ref('revenue')`, `eb.fn.sum('revenue')`), so the columns they read are checked
// against the Database interface like any other.

export function asInt(value: Expression<string | number | bigint>): RawBuilder<number> {
  return sql<number>`(${value})::int`;
}

export function asMoney(value: Expression<string | number>): RawBuilder<string> {
  return sql<string>`round(${value}, 2)::text`;
}

/** Null stays null: the type says whether the instant can be missing. */
export function asIsoUtc<T extends Date | string | null>(
  value: Expression<T>,
): RawBuilder<null extends T ? string | null : string> {
  return sql`to_char(${value} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

/** mp_average (sql/migrations/002) as text: `total / count` rounded to cents, 0.00 for no count. */
export function asAverage(
  total: Expression<string | number>,
  count: Expression<string | number | bigint>,
): RawBuilder<string> {
  return sql<string>`mp_average(${total}, ${count})::text`;
}

const LABEL = /^[a-z_]+\.[a-z_]+$/;

/**
 * The name a report statement carries in a comment of its text (dashboard.totals), which pg_stat_activity, the
 * server's log and the tests show. For the builder's `modifyFront`, so it follows SELECT.
 */
export function statementLabel(label: string): RawBuilder<unknown> {
  if (!LABEL.test(label)) throw new Error(`not a statement label: ${label}`);
  return sql.raw(`/* ${label} */`);
}
