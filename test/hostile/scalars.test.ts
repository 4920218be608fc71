import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { sql, type Kysely } from 'kysely';
import { Kind, type ValueNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { toGlobalId } from '../../src/graphql/global-id.js';
import { DateScalar, DateTimeScalar, DecimalScalar } from '../../src/graphql/scalars.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway, testServerConfig, type GraphQLResponse, type TestGateway } from '../support/gateway.js';

// Whatever a client sends as a scalar, an id or a cursor, the answer is a value or BAD_USER_INPUT: never an
// internal error, never a 5xx. The arbitraries mix random text with near misses of the real formats (days
// that do not exist, hours past 23, leap seconds, year 0000, seven fractional digits), where bugs live.

const RUNS = 60;

const digits = (n: number, width: number) => String(n).padStart(width, '0');

// Parts near the edges of their ranges more often than not: that is where a check is off by one.
const yearPart = fc.oneof(
  fc.constantFrom(0, 1, 2, 999, 1_000, 9_999, 10_000),
  fc.integer({ min: 0, max: 400 }),
  fc.integer({ min: 995, max: 1_005 }),
  fc.integer({ min: 1_900, max: 2_100 }),
  fc.integer({ min: 9_995, max: 10_001 }),
);
const monthPart = fc.oneof(fc.constantFrom(0, 1, 2, 12, 13), fc.integer({ min: 0, max: 13 }));
const dayPart = fc.oneof(fc.integer({ min: 28, max: 32 }), fc.integer({ min: 0, max: 32 }));

/** YYYY-MM-DD with every part pushed a little past its range, and sometimes malformed. */
const dayLike = fc
  .tuple(yearPart, monthPart, dayPart, fc.constantFrom('-', '-', '-', '/', ''))
  .map(([year, month, day, sep]) => `${digits(year, 4)}${sep}${digits(month, 2)}${sep}${digits(day, 2)}`);

/** An ISO 8601 instant with hours up to 25, minutes and seconds up to 61, 0 to 8 fractional digits, odd zones. */
const instantLike = fc
  .tuple(
    dayLike,
    fc.constantFrom('T', 'T', 'T', ' ', 't'),
    fc.oneof(fc.constantFrom(0, 23, 24, 25), fc.integer({ min: 0, max: 25 })),
    fc.oneof(fc.constantFrom(0, 59, 60, 61), fc.integer({ min: 0, max: 61 })),
    fc.oneof(fc.constantFrom(0, 59, 60, 61), fc.integer({ min: 0, max: 61 })),
    fc.option(fc.stringMatching(/^[0-9]{0,8}$/)),
    fc.constantFrom('Z', 'Z', 'Z', '', 'z', '+00:00', '-03:00'),
  )
  .map(([day, t, hour, minute, second, fraction, zone]) => {
    const frac = fraction === null ? '' : `.${fraction}`;
    return `${day}${t}${digits(hour, 2)}:${digits(minute, 2)}:${digits(second, 2)}${frac}${zone}`;
  });

const amountLike = fc
  .tuple(
    fc.constantFrom('', '-', '+'),
    fc.stringMatching(/^[0-9]{0,35}$/),
    fc.constantFrom('.', ',', ''),
    fc.stringMatching(/^[0-9]{0,4}$/),
  )
  .map(([sign, whole, point, cents]) => `${sign}${whole}${point}${cents}`);

const anyText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  // Long strings, up to the size of a request body.
  fc
    .tuple(fc.constantFrom('2025-01-01', '9', ' '), fc.integer({ min: 40, max: 100_000 }))
    .map(([start, length]) => start.padEnd(length, '0')),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '2025-02-30',
    '2025-02-30T10:00:00Z',
    '0000-01-01T00:00:00Z',
    '2025-06-30T23:59:60Z',
    '2025-01-01T24:00:00Z',
  ),
);

/** JSON values that are not strings, as a variable may hold them. */
const notAString = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }),
);

const stringLiteral = (value: string): ValueNode => ({ kind: Kind.STRING, value });

/** Whether y-m-d is a day of the years 1000 to 9999, worked out with Date.UTC rather than by the code under test. */
function isRealDay(year: number, month: number, day: number): boolean {
  const date = new Date(Date.UTC(year, month - 1, day));
  return (
    year >= 1_000 &&
    year <= 9_999 &&
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day
  );
}

/** The values each scalar should take, by another route than its own pattern. */
const ACCEPTABLE: Record<string, (value: string) => boolean> = {
  Decimal: (value) => /^-?\d+\.\d\d$/.test(value) && !/^-?0\d/.test(value) && value.replace('-', '').length <= 33,
  Date: (value) => {
    const match = /^(\d{4})-(\d\d)-(\d\d)$/.exec(value);
    return match !== null && isRealDay(Number(match[1]), Number(match[2]), Number(match[3]));
  },
  DateTime: (value) => {
    const match = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d{1,6})?Z$/.exec(value);
    if (!match || !isRealDay(Number(match[1]), Number(match[2]), Number(match[3]))) return false;
    return Number(match[4]) < 24 && Number(match[5]) < 60 && Number(match[6]) < 60;
  },
};

describe('the scalars, on their own', () => {
  const scalars = [
    ['Decimal', DecimalScalar, amountLike],
    ['Date', DateScalar, dayLike],
    ['DateTime', DateTimeScalar, instantLike],
  ] as const;

  it.each(scalars)(
    '%s takes exactly the real values and refuses the rest with a TypeError that does not echo a long input',
    (name, scalar, nearMiss) => {
      fc.assert(
        fc.property(fc.oneof(nearMiss, anyText, notAString), (input) => {
          const acceptable = typeof input === 'string' && ACCEPTABLE[name]!(input);
          for (const parse of [
            () => scalar.parseValue(input),
            () => (typeof input === 'string' ? scalar.parseLiteral(stringLiteral(input)) : scalar.parseValue(input)),
          ]) {
            if (acceptable) {
              expect(parse()).toBe(input);
              continue;
            }
            expect(parse, JSON.stringify(input).slice(0, 100)).toThrow(TypeError);
            try {
              parse();
            } catch (error) {
              expect((error as Error).message.length).toBeLessThan(300);
            }
          }
        }),
        { numRuns: 1_000 },
      );
    },
  );

  it('refuses the impossible instants and days by name', () => {
    for (const value of [
      '2025-02-30T10:00:00Z',
      '0000-01-01T00:00:00Z',
      '0999-12-31T23:59:59Z',
      '2025-01-01T24:00:00Z',
      '2025-01-01T23:60:00Z',
      '2025-06-30T23:59:60Z',
      '2025-01-01T10:00:00.1234567Z',
      '2025-01-01T10:00:00+02:00',
      '10000-01-01T00:00:00Z',
    ]) {
      expect(() => DateTimeScalar.parseValue(value), value).toThrow(TypeError);
    }
    for (const value of ['2025-02-29', '2024-13-01', '0000-01-01', '0001-01-01', '0999-12-31']) {
      expect(() => DateScalar.parseValue(value), value).toThrow(TypeError);
    }
    expect(DateTimeScalar.parseValue('2024-02-29T23:59:59.999999Z')).toBe('2024-02-29T23:59:59.999999Z');
    expect(DateScalar.parseValue('1000-01-01')).toBe('1000-01-01');
    expect(DateScalar.parseValue('9999-12-31')).toBe('9999-12-31');
  });
});

describe('scalars, ids and cursors through the gateway', () => {
  let database: TestDatabase;
  let db: Kysely<Database>;
  let gateway: TestGateway;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = database.handle.db;
    await db
      .insertInto('customers')
      .values([1, 2, 3].map((id) => ({ id, name: `Customer ${id}`, created_at: '2024-01-01T00:00:00Z' })))
      .execute();
    await db
      .insertInto('products')
      .values([{ id: 1, sku: 'LAP-1', name: 'מחשב נייד', category: 'מחשבים', unit_price: '3500.00' }])
      .execute();
    await db
      .insertInto('transactions')
      .values(
        [1, 2].map((id) => ({
          id,
          customer_id: id,
          product_id: 1,
          quantity: 1,
          amount: '3500.00',
          status: 'completed' as const,
          transaction_date: `2025-01-0${id}T12:00:00Z`,
        })),
      )
      .execute();
    await sql`INSERT INTO audit_log (occurred_at, request_id, principal, role, customer_count, customer_ids)
              VALUES (now(), 'req-1', 'anonymous', 'admin', 1, '{1}'), (now(), 'req-2', 'anonymous', 'admin', 1, '{2}')`.execute(
      db,
    );
    gateway = await startTestGateway(database.handle);
  });

  afterAll(async () => {
    await gateway?.close();
    await database?.drop();
  });

  /** The answer holds data, or errors that are all BAD_USER_INPUT; never a 5xx. */
  function expectValueOrBadInput(response: { status: number; body: GraphQLResponse<unknown> }, input: unknown) {
    const label = `${JSON.stringify(input)?.slice(0, 200)} -> ${JSON.stringify(response.body).slice(0, 400)}`;
    expect(response.status, label).toBeLessThan(500);
    for (const error of response.body.errors ?? []) expect(error.extensions?.code, label).toBe('BAD_USER_INPUT');
    if (!response.body.errors) expect(response.body.data, label).toBeTruthy();
  }

  const ask = (query: string, variables: Record<string, unknown>) => gateway.post<unknown>({ query, variables });

  it('answers any Date with figures or BAD_USER_INPUT, and every day it accepts is one PostgreSQL reads the same', async () => {
    const query = `query ($day: Date) {
      dashboard(from: $day, to: $day) { totalRevenue recentTrend(days: 366) { date } }
      revenue(from: $day, to: $day, granularity: WEEK) { points { date } }
    }`;
    await fc.assert(
      fc.asyncProperty(fc.oneof(dayLike, anyText, notAString), async (day) => {
        const response = await ask(query, { day });
        expectValueOrBadInput(response, day);
        if (!response.body.errors) {
          const { rows } = await sql<{ day: string }>`SELECT ${day}::date::text AS day`.execute(db);
          expect(rows[0]!.day).toBe(day);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('answers any Date written into the document with figures or BAD_USER_INPUT', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(dayLike, fc.string({ unit: 'grapheme-ascii' })), async (day) => {
        const literal = JSON.stringify(day);
        expectValueOrBadInput(await ask(`{ dashboard(from: ${literal}) { recentTrend(days: 3) { date } } }`, {}), day);
      }),
      { numRuns: RUNS },
    );
  });

  it('answers any DateTime with the audit trail or BAD_USER_INPUT', async () => {
    const query = 'query ($at: DateTime) { auditTrail(since: $at, until: $at) { totalCount } }';
    await fc.assert(
      fc.asyncProperty(fc.oneof(instantLike, anyText, notAString), async (at) => {
        expectValueOrBadInput(await ask(query, { at }), at);
      }),
      { numRuns: RUNS },
    );
  });

  it('answers BAD_USER_INPUT for an impossible DateTime, inline or as a variable', async () => {
    for (const at of ['2025-02-30T10:00:00Z', '0000-01-01T00:00:00Z', '2025-01-01T24:00:00Z', '2025-06-30T23:59:60Z']) {
      const inline = await ask(`{ auditTrail(since: ${JSON.stringify(at)}) { totalCount } }`, {});
      expect(inline.body.errors?.[0]?.extensions, at).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'since' });
      const variable = await ask('query ($at: DateTime) { auditTrail(until: $at) { totalCount } }', { at });
      expect(variable.body.errors?.[0]?.extensions, at).toMatchObject({
        code: 'BAD_USER_INPUT',
        argumentName: 'until',
      });
    }
  });

  it('answers any global id with an object, null or BAD_USER_INPUT', async () => {
    const query = `query ($id: ID!) {
      node(id: $id) { id } customer(id: $id) { id } product(id: $id) { id }
      auditTrail(customerId: $id) { totalCount }
    }`;
    const idLike = fc.oneof(
      fc
        .tuple(
          fc.constantFrom('Customer', 'Product', 'Order', 'customer', ''),
          fc.oneof(fc.bigInt({ min: -10n, max: 10n ** 20n }).map(String), fc.string()),
        )
        .map(([type, id]) => Buffer.from(`${type}:${id}`).toString('base64url')),
      fc.constantFrom(
        toGlobalId('Customer', '1'),
        toGlobalId('Product', '1'),
        toGlobalId('Customer', '999999999999999999'),
      ),
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(idLike, anyText, fc.integer()), async (id) => {
        // An Int is a valid ID literal; an empty or absent one is a type error before anything runs.
        if (id === '') return;
        expectValueOrBadInput(await ask(query, { id }), id);
      }),
      { numRuns: RUNS },
    );
  });

  describe('cursors', () => {
    const connections = [
      { field: 'customers', ordering: 'LIFETIME_VALUE' },
      { field: 'customers', ordering: 'TRANSACTION_COUNT' },
      { field: 'customers', ordering: 'LAST_PURCHASE_AT' },
      { field: 'customers', ordering: 'NAME' },
      { field: 'products', ordering: 'REVENUE' },
      { field: 'products', ordering: 'UNITS_SOLD' },
      { field: 'products', ordering: 'NAME' },
      { field: 'auditTrail', ordering: undefined },
    ];

    const pageQuery = (field: string, ordering: string | undefined, argument: 'after' | 'before') => {
      const size = argument === 'after' ? 'first' : 'last';
      const orderBy = ordering ? `, orderBy: { field: ${ordering}, direction: ASC }` : '';
      return `query ($cursor: String) { ${field}(${size}: 1, ${argument}: $cursor${orderBy}) { totalCount pageInfo { endCursor } } }`;
    };

    /** A cursor signed with the gateway's secret for the scope of `real` (a cursor the gateway issued). */
    function forge(real: string, value: unknown, id: unknown): string {
      const scope = (JSON.parse(Buffer.from(real.split('.')[0]!, 'base64url').toString('utf8')) as { s: string }).s;
      const body = Buffer.from(JSON.stringify({ s: scope, v: value, i: id }), 'utf8').toString('base64url');
      const signature = createHmac('sha256', testServerConfig.CURSOR_SECRET)
        .update(body)
        .digest('base64url')
        .slice(0, 22);
      return `${body}.${signature}`;
    }

    const positionValue = fc.oneof(
      fc.constant(null),
      fc.string(),
      amountLike,
      instantLike,
      instantLike.map((at) => at.replace('T', ' ').replace('Z', '+00')),
      fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
      fc.constantFrom(
        'abc',
        '\u0000',
        'NaN',
        'Infinity',
        '1e5',
        '2025-02-30 10:00:00+00',
        '2025-01-01 10:00:00+00',
        '12.50',
      ),
      fc.integer(),
    );
    const positionId = fc.oneof(
      fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
      fc.string(),
      fc.constantFrom('1', '0', '-1', ' 1', '1.5'),
      fc.integer(),
    );

    it.each(connections)(
      'answer a page or BAD_USER_INPUT for any cursor, forged with the secret or not ($field $ordering)',
      async ({ field, ordering }) => {
        const first = await ask(pageQuery(field, ordering, 'after'), {});
        const real = (first.body.data as Record<string, { pageInfo: { endCursor: string } }>)[field]!.pageInfo
          .endCursor;
        expect(real).toBeTruthy();
        await fc.assert(
          fc.asyncProperty(
            fc.oneof(
              fc.tuple(positionValue, positionId).map(([value, id]) => forge(real, value, id)),
              anyText,
            ),
            fc.constantFrom('after' as const, 'before' as const),
            async (cursor, argument) => {
              expectValueOrBadInput(await ask(pageQuery(field, ordering, argument), { cursor }), cursor);
            },
          ),
          { numRuns: RUNS },
        );
      },
    );

    it('answers BAD_USER_INPUT for a cursor of another ordering, and for a forged position', async () => {
      const byValue = await ask(pageQuery('customers', 'LIFETIME_VALUE', 'after'), {});
      const cursor = (byValue.body.data as { customers: { pageInfo: { endCursor: string } } }).customers.pageInfo
        .endCursor;
      const byName = await ask(pageQuery('customers', 'NAME', 'after'), { cursor });
      expect(byName.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'after' });
      const forged = await ask(pageQuery('customers', 'LIFETIME_VALUE', 'after'), {
        cursor: forge(cursor, 'abc', 'x'),
      });
      expect(forged.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'after' });
    });
  });
});
