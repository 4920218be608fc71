import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketCount } from '../../../src/modules/revenue/revenue.buckets.js';
import {
  ComparisonPeriod,
  comparisonRange,
  isWholeMonths,
  type DayBounds,
} from '../../../src/modules/revenue/revenue.periods.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';

// The calendar rules of series and comparisons, against PostgreSQL's own date arithmetic: `date - interval
// '1 year'` (which takes 29 February to 28 February), `date - make_interval(months => n)`, and the buckets
// generate_series steps through from `date_trunc`.

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.drop();
});

const { PREVIOUS_PERIOD, PREVIOUS_YEAR } = ComparisonPeriod;

const DAY_MS = 86_400_000;
const dayText = (n: number) => {
  const date = new Date(n * DAY_MS);
  return `${String(date.getUTCFullYear()).padStart(4, '0')}-${String(date.getUTCMonth() + 1).padStart(2, '0')}-${String(date.getUTCDate()).padStart(2, '0')}`;
};
/** Any day a Date argument takes, 1000-01-01 to 9999-12-31, as a day number. */
const anyDay = fc.integer({ min: Date.UTC(1000, 0, 1) / DAY_MS, max: Date.UTC(9999, 11, 31) / DAY_MS });

describe('bucketCount', () => {
  it('counts the buckets PostgreSQL steps through, for 3,000 random ranges by day, week and month', async () => {
    const ranges = fc
      .sample(
        fc.tuple(
          fc.integer({ min: Date.UTC(1900, 0, 1) / DAY_MS, max: Date.UTC(2100, 0, 1) / DAY_MS }),
          fc.integer({ min: 0, max: 4_000 }),
        ),
        { numRuns: 3_000, seed: 11 },
      )
      .map(([start, length]) => ({ from: dayText(start), to: dayText(start + length) }));
    const { rows } = await sql<{ day: number; week: number; month: number }>`
      SELECT (SELECT count(*) FROM generate_series(f::timestamp, t::timestamp, interval '1 day'))::int AS day,
             (SELECT count(*) FROM generate_series(date_trunc('week', f::timestamp), t::timestamp, interval '1 week'))::int AS week,
             (SELECT count(*) FROM generate_series(date_trunc('month', f::timestamp), t::timestamp, interval '1 month'))::int AS month
      FROM unnest(${ranges.map((r) => r.from)}::date[], ${ranges.map((r) => r.to)}::date[]) WITH ORDINALITY AS r(f, t, i)
      ORDER BY i`.execute(database.handle.db);
    ranges.forEach(({ from, to }, i) => {
      const counts = {
        day: bucketCount(from, to, 'day'),
        week: bucketCount(from, to, 'week'),
        month: bucketCount(from, to, 'month'),
      };
      expect(counts, `${from}..${to}`).toEqual(rows[i]);
    });
  });
});

describe('comparisonRange', () => {
  it.each([
    // Whole months: the same number of months, February of a leap year whole.
    ['2024-03-01', '2024-03-31', PREVIOUS_PERIOD, '2024-02-01', '2024-02-29'],
    ['2023-03-01', '2023-03-31', PREVIOUS_PERIOD, '2023-02-01', '2023-02-28'],
    ['2024-02-01', '2024-02-29', PREVIOUS_PERIOD, '2024-01-01', '2024-01-31'],
    ['2024-01-01', '2024-03-31', PREVIOUS_PERIOD, '2023-10-01', '2023-12-31'],
    ['2024-04-01', '2024-06-30', PREVIOUS_PERIOD, '2024-01-01', '2024-03-31'],
    ['2024-01-01', '2024-12-31', PREVIOUS_PERIOD, '2023-01-01', '2023-12-31'],
    ['2024-01-01', '2024-02-29', PREVIOUS_PERIOD, '2023-11-01', '2023-12-31'],
    // Not whole months: the same number of days.
    ['2024-03-05', '2024-03-14', PREVIOUS_PERIOD, '2024-02-24', '2024-03-04'],
    ['2024-03-01', '2024-03-01', PREVIOUS_PERIOD, '2024-02-29', '2024-02-29'],
    ['2024-03-15', '2024-04-30', PREVIOUS_PERIOD, '2024-01-28', '2024-03-14'],
    ['2024-03-01', '2024-03-30', PREVIOUS_PERIOD, '2024-01-31', '2024-02-29'],
    ['2024-01-31', '2024-01-31', PREVIOUS_PERIOD, '2024-01-30', '2024-01-30'],
    // A year earlier, end by end.
    ['2024-02-29', '2024-02-29', PREVIOUS_YEAR, '2023-02-28', '2023-02-28'],
    ['2024-02-01', '2024-02-29', PREVIOUS_YEAR, '2023-02-01', '2023-02-28'],
    ['2025-02-01', '2025-02-28', PREVIOUS_YEAR, '2024-02-01', '2024-02-28'],
    ['2024-03-05', '2024-03-14', PREVIOUS_YEAR, '2023-03-05', '2023-03-14'],
    ['2024-12-25', '2025-01-05', PREVIOUS_YEAR, '2023-12-25', '2024-01-05'],
  ] as const)('compares %s..%s by %s with %s..%s', (from, to, period, expectedFrom, expectedTo) => {
    expect(comparisonRange({ from, to }, period)).toEqual({ from: expectedFrom, to: expectedTo });
  });

  it('gives nothing for a comparison that would start before 1000-01-01, the first day a Date argument takes', () => {
    expect(comparisonRange({ from: '1000-01-01', to: '1000-01-31' }, PREVIOUS_PERIOD)).toBeUndefined();
    expect(comparisonRange({ from: '1000-06-01', to: '1000-06-30' }, PREVIOUS_YEAR)).toBeUndefined();
    expect(comparisonRange({ from: '1000-01-01', to: '9999-12-31' }, PREVIOUS_PERIOD)).toBeUndefined();
    expect(comparisonRange({ from: '1000-01-11', to: '1000-01-20' }, PREVIOUS_PERIOD)).toEqual({
      from: '1000-01-01',
      to: '1000-01-10',
    });
    expect(comparisonRange({ from: '1001-02-01', to: '1001-02-28' }, PREVIOUS_YEAR)).toEqual({
      from: '1000-02-01',
      to: '1000-02-28',
    });
  });

  it('agrees with PostgreSQL date arithmetic on 3,000 random ranges, a third of them whole months', async () => {
    const anyRange = fc
      .tuple(anyDay, fc.integer({ min: 0, max: 800 }))
      .map(([start, length]) => ({ from: dayText(start), to: dayText(start + length) }));
    const wholeMonths = fc
      .tuple(fc.integer({ min: 1000, max: 9_990 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 40 }))
      .map(([year, month, extra]) => {
        const end = new Date(Date.UTC(2000, month - 1 + extra + 1, 0));
        end.setUTCFullYear(year + Math.floor((month - 1 + extra) / 12), ((month - 1 + extra) % 12) + 1, 0);
        return {
          from: `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-01`,
          to: dayText(end.getTime() / DAY_MS),
        };
      });
    const edges = [
      { from: '1000-01-01', to: '1000-03-31' },
      { from: '1000-12-31', to: '1001-01-01' },
      { from: '1001-01-01', to: '1001-12-31' },
      { from: '1004-02-29', to: '1004-03-31' },
      { from: '9999-12-01', to: '9999-12-31' },
    ];
    const ranges = [
      ...edges,
      ...fc.sample(fc.oneof({ arbitrary: anyRange, weight: 2 }, { arbitrary: wholeMonths, weight: 1 }), {
        numRuns: 3_000,
        seed: 12,
      }),
    ];
    expect(ranges.filter(isWholeMonths).length).toBeGreaterThan(900);

    const { rows } = await sql<{ previousFrom: string; previousTo: string; yearFrom: string; yearTo: string }>`
      SELECT CASE WHEN extract(day FROM f) = 1 AND t = (date_trunc('month', t) + interval '1 month' - interval '1 day')::date
                  THEN (f - make_interval(months => ((extract(year FROM t) - extract(year FROM f)) * 12
                                                     + extract(month FROM t) - extract(month FROM f) + 1)::int))::date
                  ELSE f - (t - f + 1)
             END::text AS "previousFrom",
             (f - 1)::text AS "previousTo",
             (f - interval '1 year')::date::text AS "yearFrom",
             (t - interval '1 year')::date::text AS "yearTo"
      FROM unnest(${ranges.map((r) => r.from)}::date[], ${ranges.map((r) => r.to)}::date[]) WITH ORDINALITY AS r(f, t, i)
      ORDER BY i`.execute(database.handle.db);

    // Before 1000-01-01 (and on into years BC, where PostgreSQL goes on) the gateway has no comparison.
    const orNothing = (range: DayBounds) =>
      range.from.endsWith(' BC') || range.from < '1000-01-01' ? undefined : range;
    expect(ranges.filter((range) => comparisonRange(range, PREVIOUS_YEAR) === undefined).length).toBeGreaterThan(0);
    ranges.forEach((range, i) => {
      const row = rows[i]!;
      expect(comparisonRange(range, PREVIOUS_PERIOD), `${range.from}..${range.to}`).toEqual(
        orNothing({ from: row.previousFrom, to: row.previousTo }),
      );
      expect(comparisonRange(range, PREVIOUS_YEAR), `${range.from}..${range.to}`).toEqual(
        orNothing({ from: row.yearFrom, to: row.yearTo }),
      );
    });
  });
});
