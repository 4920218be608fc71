import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countChange, moneyChange } from '../../../src/modules/dashboard/change.arithmetic.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';

// Changes are worked out on whole cents with BigInt; PostgreSQL's numeric (exact, and rounding half away from
// zero) is the reference. The quotient is taken at 40 decimals before rounding, so the reference is exact too.

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.drop();
});

const decimal = (cents: bigint) => {
  const sign = cents < 0n ? '-' : '';
  const magnitude = cents < 0n ? -cents : cents;
  return `${sign}${magnitude / 100n}.${String(magnitude % 100n).padStart(2, '0')}`;
};

async function reference(pairs: [string, string][]): Promise<{ difference: string; percent: string | null }[]> {
  const { rows } = await sql<{ difference: string; percent: string | null }>`
    SELECT (c - p)::text AS difference,
           CASE WHEN p = 0 THEN NULL ELSE round(((c - p) * 100)::numeric(80, 40) / p, 2)::text END AS percent
    FROM unnest(${pairs.map(([c]) => c)}::numeric[], ${pairs.map(([, p]) => p)}::numeric[]) WITH ORDINALITY AS x(c, p, i)
    ORDER BY i`.execute(database.handle.db);
  return rows;
}

describe('moneyChange', () => {
  it.each([
    ['202.01', '200.00', '2.01', '1.01'], // 1.005 exactly: a float would make it 1.00499... and round down
    ['197.99', '200.00', '-2.01', '-1.01'], // half away from zero below zero as well
    ['200.01', '200.00', '0.01', '0.01'], // 0.005
    ['199.99', '200.00', '-0.01', '-0.01'],
    ['100.00', '1000000.00', '-999900.00', '-99.99'],
    ['1000000.00', '999999.99', '0.01', '0.00'], // a change too small to show is 0.00, never -0.00
    ['999999.99', '1000000.00', '-0.01', '0.00'],
    ['0.00', '125.50', '-125.50', '-100.00'],
    ['125.50', '0.00', '125.50', null], // no percent of nothing
    ['0.00', '0.00', '0.00', null],
    ['90000000000000.00', '0.03', '89999999999999.97', '299999999999999900.00'], // beyond a float's 2^53
  ])('takes %s against %s to a difference of %s and %s %%', async (current, previous, difference, percent) => {
    expect(moneyChange(current, previous)).toEqual({ current, previous, difference, percent });
    expect(await reference([[current, previous]])).toEqual([{ difference, percent }]);
  });

  it('agrees with PostgreSQL numeric on 5,000 random pairs of amounts', async () => {
    const cents = fc.oneof(
      fc.bigInt({ min: 0n, max: 1_000n }),
      fc.bigInt({ min: 0n, max: 100_000_000n }),
      fc.bigInt({ min: 0n, max: 10n ** 17n }),
    );
    const pairs = fc
      .sample(fc.tuple(cents, cents), { numRuns: 5_000, seed: 12 })
      .map(([c, p]) => [decimal(c), decimal(p)] as [string, string]);
    const expected = await reference(pairs);
    pairs.forEach(([current, previous], i) => {
      const { difference, percent } = moneyChange(current, previous);
      expect({ difference, percent }, `${current} against ${previous}`).toEqual(expected[i]);
    });
  });
});

describe('countChange', () => {
  it.each([
    [9, 8, 1, '12.50'],
    [7, 8, -1, '-12.50'],
    [1, 3, -2, '-66.67'],
    [2, 3, -1, '-33.33'],
    [5, 0, 5, null],
    [0, 0, 0, null],
    [0, 7, -7, '-100.00'],
  ])('takes %i against %i to a difference of %i and %s %%', (current, previous, difference, percent) => {
    expect(countChange(current, previous)).toEqual({ current, previous, difference, percent });
  });

  it('agrees with PostgreSQL numeric on 5,000 random pairs of counts', async () => {
    const count = fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 2_147_483_647 }));
    const pairs = fc.sample(fc.tuple(count, count), { numRuns: 5_000, seed: 13 });
    const expected = await reference(pairs.map(([c, p]) => [`${c}`, `${p}`]));
    pairs.forEach(([current, previous], i) => {
      const { difference, percent } = countChange(current, previous);
      expect({ difference: String(difference), percent }, `${current} against ${previous}`).toEqual(expected[i]);
    });
  });
});
