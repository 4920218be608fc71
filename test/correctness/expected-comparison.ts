import { sql, type Kysely } from 'kysely';
import type { Database } from '../../src/db/database.js';

// What comparisons must serve, worked out independently of the gateway: the compared range with PostgreSQL's
// own calendar arithmetic (`date - interval '1 year'` takes 29 February to 28 February; `make_interval(months
// => n)` steps whole months), and the changes with PostgreSQL numeric (exact, rounding half away from zero;
// the quotient is taken at 40 decimals before rounding, so no digit that matters is lost).

type Db = Kysely<Database>;

export type Period = 'PREVIOUS_PERIOD' | 'PREVIOUS_YEAR';

export interface Range {
  from: string;
  to: string;
}

export interface ExpectedChange<T> {
  current: T;
  previous: T;
  difference: T;
  percent: string | null;
}

/** The range `range` is compared with under `period`. */
export async function expectedComparisonRange(db: Db, range: Range, period: Period): Promise<Range> {
  const f = sql`${range.from}::date`;
  const t = sql`${range.to}::date`;
  const { rows } = await sql<Range>`
    SELECT CASE WHEN ${period}::text = 'PREVIOUS_YEAR' THEN (${f} - interval '1 year')::date
                WHEN extract(day FROM ${f}) = 1 AND ${t} = (date_trunc('month', ${t}) + interval '1 month' - interval '1 day')::date
                THEN (${f} - make_interval(months => ((extract(year FROM ${t}) - extract(year FROM ${f})) * 12
                                                      + extract(month FROM ${t}) - extract(month FROM ${f}) + 1)::int))::date
                ELSE ${f} - (${t} - ${f} + 1)
           END::text AS "from",
           CASE WHEN ${period}::text = 'PREVIOUS_YEAR' THEN (${t} - interval '1 year')::date ELSE ${f} - 1 END::text AS "to"`.execute(
    db,
  );
  return rows[0]!;
}

async function change(
  db: Db,
  current: string,
  previous: string,
): Promise<{ difference: string; percent: string | null }> {
  const { rows } = await sql<{ difference: string; percent: string | null }>`
    SELECT (c - p)::text AS difference,
           CASE WHEN p = 0 THEN NULL ELSE round(((c - p) * 100)::numeric(80, 40) / p, 2)::text END AS percent
    FROM (SELECT ${current}::numeric AS c, ${previous}::numeric AS p) x`.execute(db);
  return rows[0]!;
}

export async function expectedMoneyChange(db: Db, current: string, previous: string): Promise<ExpectedChange<string>> {
  return { current, previous, ...(await change(db, current, previous)) };
}

export async function expectedCountChange(db: Db, current: number, previous: number): Promise<ExpectedChange<number>> {
  const { difference, percent } = await change(db, String(current), String(previous));
  return { current, previous, difference: Number(difference), percent };
}

/**
 * The report days a dashboard of `range` covers: the ends given, an open end the first or last day (in `zone`)
 * that has a transaction of any status; nulls when that leaves no days.
 */
export async function expectedDays(
  db: Db,
  zone: string,
  range: { from?: string; to?: string },
): Promise<{ from: string | null; to: string | null }> {
  const { rows } = await sql<{ from: string | null; to: string | null }>`
    WITH bounds AS (
      SELECT coalesce(${range.from ?? null}::date, min((transaction_date AT TIME ZONE ${zone}::text)::date)) AS f,
             coalesce(${range.to ?? null}::date, max((transaction_date AT TIME ZONE ${zone}::text)::date)) AS t
      FROM transactions
    )
    SELECT CASE WHEN f <= t THEN f::text END AS "from", CASE WHEN f <= t THEN t::text END AS "to" FROM bounds`.execute(
    db,
  );
  return rows[0]!;
}
