import { sql, type RawBuilder } from 'kysely';

// The one place where database values become API values: counts to int4 (a JavaScript number on every
// driver), money to text with two decimals, instants to ISO 8601 UTC text. Nothing passes through a float.

export function asInt(column: string): RawBuilder<number> {
  return sql<number>`(${sql.ref(column)})::int`;
}

export function asMoney(column: string): RawBuilder<string> {
  return sql<string>`round(${sql.ref(column)}, 2)::text`;
}

export function asIsoUtc(column: string): RawBuilder<string | null> {
  return sql<string | null>`to_char(${sql.ref(column)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}
