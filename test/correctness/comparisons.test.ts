import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CorrectnessDashboardComparisonDocument,
  CorrectnessRevenueComparisonDocument,
  type ComparisonPeriod,
  type Granularity,
} from '../generated/graphql.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway, type TestGateway, type GraphQLResponse } from '../support/gateway.js';
import { expectedDashboard, expectedRevenue } from './expected.js';
import {
  expectedComparisonRange,
  expectedCountChange,
  expectedDays,
  expectedMoneyChange,
  type Range,
} from './expected-comparison.js';

// Comparisons against plain SQL over the base tables, in UTC and in America/New_York, whose clocks spring
// forward on 2024-03-10 (a 23-hour day: local midnight is 05:00Z before it, 04:00Z after) and fall back on
// 2023-11-05 and 2024-11-03 (25-hour days). The compared range is worked out by PostgreSQL's calendar
// arithmetic and written out by hand as well; every figure of the dashboard or series compared with is the
// base tables' own, and the changes come from PostgreSQL numeric.

const FIXTURE = `
INSERT INTO customers (id, name, email, city, created_at) VALUES
  (1, 'אלפא מחשוב בע"מ', 'alpha@example.co.il', 'תל אביב-יפו', '2022-01-01T08:00:00Z'),
  (2, 'בטא טכנולוגיות', NULL, 'חיפה', '2022-01-01T08:00:00Z'),
  (3, 'גמא ייעוץ', 'gamma@example.co.il', NULL, '2022-01-01T08:00:00Z'),
  (4, 'Delta Ltd', 'office@delta.example', 'Haifa', '2022-01-01T08:00:00Z'),
  (5, 'אפסילון הנדסה', 'eps@example.co.il', 'באר שבע', '2022-01-01T08:00:00Z');

INSERT INTO products (id, sku, name, category, unit_price) VALUES
  (1, 'CMP-LAP', 'מחשב נייד', 'מחשבים ניידים', 3500.00),
  (2, 'CMP-PHN', 'טלפון סלולרי', 'טלפונים סלולריים', 2200.00),
  (3, 'CMP-MSE', 'עכבר אלחוטי', 'אביזרים', 120.00),
  (4, 'CMP-SCR', 'מסך 27 אינץ׳', 'מסכים', 1400.00);

-- Every 7 hours from 2022-12-01 to late March 2025: each hour of the day in turn, so local midnights of both
-- zones are crossed on every kind of day; one in nine pending, a few cancelled.
INSERT INTO transactions (id, customer_id, product_id, quantity, amount, status, transaction_date)
SELECT i, 1 + i % 5, 1 + (i * 7) % 4, 1 + i % 3, ((i * 7919) % 90000 + 100) / 100.0,
       CASE WHEN i % 9 = 0 THEN 'pending' WHEN i % 11 = 0 THEN 'cancelled' ELSE 'completed' END,
       '2022-12-01T00:30:00Z'::timestamptz + (i - 1) * interval '7 hours'
FROM generate_series(1, 2900) AS i;

--                                                                   UTC day | America/New_York day (local time)
INSERT INTO transactions (id, customer_id, product_id, quantity, amount, status, transaction_date) VALUES
  (10001, 1, 1, 1, 3500.00, 'completed', '2024-02-29T00:30:00Z'),  -- 02-29 | 02-28 19:30 EST
  (10002, 2, 2, 1, 2200.00, 'completed', '2024-03-01T03:00:00Z'),  -- 03-01 | 02-29 22:00 EST
  (10003, 3, 3, 2,  240.00, 'completed', '2024-03-10T04:30:00Z'),  -- 03-10 | 03-09 23:30 EST
  (10004, 4, 4, 1, 1400.00, 'completed', '2024-03-10T05:30:00Z'),  -- 03-10 | 03-10 00:30 EST
  (10005, 5, 1, 1, 3499.99, 'completed', '2024-03-11T03:30:00Z'),  -- 03-11 | 03-10 23:30 EDT (after the jump)
  (10006, 1, 2, 1, 2199.99, 'completed', '2024-03-11T04:30:00Z'),  -- 03-11 | 03-11 00:30 EDT
  (10007, 2, 3, 1,  120.00, 'completed', '2023-11-05T04:30:00Z'),  -- 11-05 | 11-05 00:30 EDT
  (10008, 3, 4, 1, 1400.00, 'completed', '2023-11-06T04:30:00Z'),  -- 11-06 | 11-05 23:30 EST (the 25th hour)
  (10009, 4, 1, 1, 3500.00, 'pending',   '2024-11-03T05:30:00Z'),  -- 11-03 | 11-03 00:30 EST
  (10010, 5, 2, 1, 2200.00, 'completed', '2024-11-04T04:30:00Z');  -- 11-04 | 11-03 23:30 EST

-- Changes that land on half a hundredth of a percent, at noon UTC (the same day in both zones).
INSERT INTO transactions (id, customer_id, product_id, quantity, amount, status, transaction_date) VALUES
  (20001, 1, 3, 1, 120.00, 'completed', '2025-05-01T12:00:00Z'),
  (20002, 2, 3, 1,  80.00, 'completed', '2025-05-01T12:00:00Z'),
  (20003, 3, 3, 1,  50.00, 'pending',   '2025-05-01T12:00:00Z'),  -- 05-01: 200.00 from 2 completed of 3
  (20004, 4, 1, 1, 202.01, 'completed', '2025-05-02T12:00:00Z'),  -- 05-02: 202.01, +1.005 %
  (20005, 5, 2, 1, 200.00, 'completed', '2025-05-04T12:00:00Z'),  -- 05-04: 200.00
  (20006, 1, 4, 1, 197.99, 'completed', '2025-05-05T12:00:00Z'),
  (20007, 2, 4, 1,  10.00, 'cancelled', '2025-05-05T12:00:00Z');  -- 05-05: 197.99, -1.005 %
`;

const ZONES = ['UTC', 'America/New_York'] as const;
type Zone = (typeof ZONES)[number];

const LIMIT = 5;
const DAYS = 10;

/** A range, the period, and the range it is compared with, worked out by hand. */
interface Case {
  what: string;
  range: Range;
  period: ComparisonPeriod;
  compared: Range;
}

const CASES: Case[] = [
  {
    what: 'March 2024 against the 29 days of February',
    range: { from: '2024-03-01', to: '2024-03-31' },
    period: 'PREVIOUS_PERIOD',
    compared: { from: '2024-02-01', to: '2024-02-29' },
  },
  {
    what: 'February 2024 against January',
    range: { from: '2024-02-01', to: '2024-02-29' },
    period: 'PREVIOUS_PERIOD',
    compared: { from: '2024-01-01', to: '2024-01-31' },
  },
  {
    what: 'a quarter against the quarter before (with a clock change)',
    range: { from: '2024-01-01', to: '2024-03-31' },
    period: 'PREVIOUS_PERIOD',
    compared: { from: '2023-10-01', to: '2023-12-31' },
  },
  {
    what: 'two whole months across a year end',
    range: { from: '2024-01-01', to: '2024-02-29' },
    period: 'PREVIOUS_PERIOD',
    compared: { from: '2023-11-01', to: '2023-12-31' },
  },
  {
    what: 'ten days across the spring clock change against ten days with 29 February',
    range: { from: '2024-03-05', to: '2024-03-14' },
    period: 'PREVIOUS_PERIOD',
    compared: { from: '2024-02-24', to: '2024-03-04' },
  },
  {
    what: 'the 23-hour day against the day before',
    range: { from: '2024-03-10', to: '2024-03-10' },
    period: 'PREVIOUS_PERIOD',
    compared: { from: '2024-03-09', to: '2024-03-09' },
  },
  {
    what: 'the 25-hour day and the next against two days before',
    range: { from: '2023-11-05', to: '2023-11-06' },
    period: 'PREVIOUS_PERIOD',
    compared: { from: '2023-11-03', to: '2023-11-04' },
  },
  {
    what: 'the first of a month alone against 29 February',
    range: { from: '2024-03-01', to: '2024-03-01' },
    period: 'PREVIOUS_PERIOD',
    compared: { from: '2024-02-29', to: '2024-02-29' },
  },
  {
    what: 'a range ending at a month end but not starting at one, by days',
    range: { from: '2024-03-15', to: '2024-04-30' },
    period: 'PREVIOUS_PERIOD',
    compared: { from: '2024-01-28', to: '2024-03-14' },
  },
  {
    what: '29 February against 28 February a year earlier',
    range: { from: '2024-02-29', to: '2024-02-29' },
    period: 'PREVIOUS_YEAR',
    compared: { from: '2023-02-28', to: '2023-02-28' },
  },
  {
    what: 'February 2024 against February 2023',
    range: { from: '2024-02-01', to: '2024-02-29' },
    period: 'PREVIOUS_YEAR',
    compared: { from: '2023-02-01', to: '2023-02-28' },
  },
  {
    what: 'February 2025 against 1 to 28 February 2024',
    range: { from: '2025-02-01', to: '2025-02-28' },
    period: 'PREVIOUS_YEAR',
    compared: { from: '2024-02-01', to: '2024-02-28' },
  },
  {
    what: 'the 25-hour day of 2024 against the same day of 2023',
    range: { from: '2024-11-03', to: '2024-11-03' },
    period: 'PREVIOUS_YEAR',
    compared: { from: '2023-11-03', to: '2023-11-03' },
  },
  {
    what: 'a range across a year end against the year before',
    range: { from: '2024-12-15', to: '2025-01-14' },
    period: 'PREVIOUS_YEAR',
    compared: { from: '2023-12-15', to: '2024-01-14' },
  },
  {
    what: 'March 2024 against March 2023',
    range: { from: '2024-03-01', to: '2024-03-31' },
    period: 'PREVIOUS_YEAR',
    compared: { from: '2023-03-01', to: '2023-03-31' },
  },
];

const databases = new Map<Zone, TestDatabase>();
const gateways = new Map<Zone, TestGateway>();

beforeAll(async () => {
  await Promise.all(
    ZONES.map(async (zone) => {
      const database = await createTestDatabase({ reportTimezone: zone });
      databases.set(zone, database);
      await database.handle.runScript(database.handle.db, FIXTURE);
      gateways.set(zone, await startTestGateway(database.handle));
    }),
  );
});

afterAll(async () => {
  await Promise.all([...gateways.values()].map((gateway) => gateway.close()));
  await Promise.all([...databases.values()].map((database) => database.drop()));
});

const db = (zone: Zone) => databases.get(zone)!.handle.db;

async function query<T, V>(zone: Zone, document: TypedDocumentNode<T, V> | string, variables?: V): Promise<T> {
  const { status, body } = await gateways.get(zone)!.request(document, variables);
  expect(body.errors).toBeUndefined();
  expect(status).toBe(200);
  return body.data!;
}

const figuresOf = ({ from: _from, to: _to, comparison: _comparison, ...figures }: Record<string, unknown>) => figures;

describe.each(ZONES)('in %s', (zone) => {
  describe('the range compared with', () => {
    it.each(CASES)(
      '$what: $range.from..$range.to by $period is $compared.from..$compared.to',
      async ({ range, period, compared }) => {
        expect(await expectedComparisonRange(db(zone), range, period)).toEqual(compared);
        const { dashboard } = await query(zone, CorrectnessDashboardComparisonDocument, {
          ...range,
          period,
          limit: LIMIT,
          days: DAYS,
        });
        expect(dashboard.comparison).toMatchObject({ period, ...compared });
        expect(dashboard.comparison!.previous).toMatchObject(compared);
        const { revenue } = await query(zone, CorrectnessRevenueComparisonDocument, {
          ...range,
          period,
          granularity: 'DAY',
        });
        expect(revenue.comparison).toMatchObject(compared);
      },
    );
  });

  describe('dashboard comparisons', () => {
    it.each(CASES)(
      '$what: serves the dashboard compared with and the changes as the base tables give them',
      async ({ range, period, compared }) => {
        const { dashboard } = await query(zone, CorrectnessDashboardComparisonDocument, {
          ...range,
          period,
          limit: LIMIT,
          days: DAYS,
        });
        const current = await expectedDashboard(db(zone), zone, range, { limit: LIMIT, days: DAYS });
        const previous = await expectedDashboard(db(zone), zone, compared, { limit: LIMIT, days: DAYS });
        expect(figuresOf(dashboard)).toEqual(current);
        expect({ from: dashboard.from, to: dashboard.to }).toEqual(range);
        const comparison = dashboard.comparison!;
        expect(figuresOf(comparison.previous)).toEqual(previous);
        expect({ from: comparison.previous.from, to: comparison.previous.to }).toEqual(compared);
        expect(comparison.totalRevenue).toEqual(
          await expectedMoneyChange(db(zone), current.totalRevenue, previous.totalRevenue),
        );
        expect(comparison.avgOrderValue).toEqual(
          await expectedMoneyChange(db(zone), current.avgOrderValue, previous.avgOrderValue),
        );
        expect(comparison.totalTransactions).toEqual(
          await expectedCountChange(db(zone), current.totalTransactions, previous.totalTransactions),
        );
        expect(comparison.completedTransactions).toEqual(
          await expectedCountChange(db(zone), current.completedTransactions, previous.completedTransactions),
        );
        // The data is dense enough that every one of these is a real comparison, not zeros against zeros.
        expect(Number(previous.totalRevenue)).toBeGreaterThan(0);
      },
    );
  });

  describe('series comparisons', () => {
    const withGranularity = CASES.flatMap((c) =>
      (['DAY', 'WEEK', 'MONTH'] as Granularity[]).map((granularity) => ({ ...c, granularity })),
    );
    it.each(withGranularity)(
      '$what, per $granularity: serves the series compared with as the base tables give it',
      async ({ range, period, granularity, compared }) => {
        const { revenue } = await query(zone, CorrectnessRevenueComparisonDocument, { ...range, period, granularity });
        expect(revenue.comparison).toEqual(await expectedRevenue(db(zone), zone, compared, granularity));
      },
    );
  });

  it('rounds percentages half away from zero, in both directions', async () => {
    const change = async (day: string) =>
      (await query(zone, CorrectnessDashboardComparisonDocument, { from: day, to: day, limit: 1, days: 1 })).dashboard
        .comparison!;
    // 202.01 against 200.00 is +1.005 %; 197.99 against 200.00 is -1.005 %.
    expect(await change('2025-05-02')).toMatchObject({
      from: '2025-05-01',
      to: '2025-05-01',
      totalRevenue: { current: '202.01', previous: '200.00', difference: '2.01', percent: '1.01' },
      avgOrderValue: { current: '202.01', previous: '100.00', difference: '102.01', percent: '102.01' },
      totalTransactions: { current: 1, previous: 3, difference: -2, percent: '-66.67' },
      completedTransactions: { current: 1, previous: 2, difference: -1, percent: '-50.00' },
    });
    expect(await change('2025-05-05')).toMatchObject({
      from: '2025-05-04',
      to: '2025-05-04',
      totalRevenue: { current: '197.99', previous: '200.00', difference: '-2.01', percent: '-1.01' },
      avgOrderValue: { current: '197.99', previous: '200.00', difference: '-2.01', percent: '-1.01' },
      totalTransactions: { current: 2, previous: 1, difference: 1, percent: '100.00' },
      completedTransactions: { current: 1, previous: 1, difference: 0, percent: '0.00' },
    });
  });

  it('gives no percentage against a range without sales, and zeros against zeros', async () => {
    const { dashboard } = await query(zone, CorrectnessDashboardComparisonDocument, {
      from: '2025-05-01',
      to: '2025-05-01',
      limit: 1,
      days: 1,
    });
    expect(dashboard.comparison).toMatchObject({
      from: '2025-04-30',
      to: '2025-04-30',
      totalRevenue: { current: '200.00', previous: '0.00', difference: '200.00', percent: null },
      avgOrderValue: { current: '100.00', previous: '0.00', difference: '100.00', percent: null },
      totalTransactions: { current: 3, previous: 0, difference: 3, percent: null },
      completedTransactions: { current: 2, previous: 0, difference: 2, percent: null },
    });
    const quiet = await query(zone, CorrectnessDashboardComparisonDocument, {
      from: '2025-04-10',
      to: '2025-04-12',
      limit: 1,
      days: 1,
    });
    expect(quiet.dashboard.comparison).toMatchObject({
      from: '2025-04-07',
      to: '2025-04-09',
      totalRevenue: { current: '0.00', previous: '0.00', difference: '0.00', percent: null },
      totalTransactions: { current: 0, previous: 0, difference: 0, percent: null },
    });
  });

  it('has no comparison for a range with an open end', async () => {
    for (const range of [{}, { from: '2024-03-01' }, { to: '2024-03-31' }]) {
      const { dashboard } = await query(zone, CorrectnessDashboardComparisonDocument, { ...range, limit: 1, days: 1 });
      expect(dashboard.comparison, JSON.stringify(range)).toBeNull();
      const { revenue } = await query(zone, CorrectnessRevenueComparisonDocument, { ...range, granularity: 'MONTH' });
      expect(revenue.comparison, JSON.stringify(range)).toBeNull();
    }
  });

  it('tells the days a dashboard covers, open ends taken from the data', async () => {
    const days = (variables: { from?: string; to?: string }) =>
      query<{ dashboard: { from: string | null; to: string | null } }, typeof variables>(
        zone,
        'query Days($from: Date, $to: Date) { dashboard(from: $from, to: $to) { from to } }',
        variables,
      );
    for (const range of [
      {},
      { from: '2024-03-01' },
      { to: '2024-03-31' },
      { from: '2024-03-01', to: '2024-03-31' },
      { to: '2020-01-01' },
      { from: '2030-01-01' },
    ]) {
      expect((await days(range)).dashboard, JSON.stringify(range)).toEqual(await expectedDays(db(zone), zone, range));
    }
    // Both ends given: the range as asked, with or without data in it.
    expect((await days({ from: '2030-01-01', to: '2030-01-31' })).dashboard).toEqual({
      from: '2030-01-01',
      to: '2030-01-31',
    });
    expect((await days({ to: '2020-01-01' })).dashboard).toEqual({ from: null, to: null });
    // The last day is the last with a transaction of any status: 2025-05-05 has a cancelled one.
    expect((await days({})).dashboard.to).toBe('2025-05-05');
  });

  it('compares a comparison in turn: the year before last, and the period before the previous one', async () => {
    const { dashboard, revenue } = await query<
      {
        dashboard: {
          comparison: {
            from: string;
            previous: { comparison: { period: string; from: string; to: string; previous: { totalRevenue: string } } };
          };
        };
        revenue: {
          comparison: { from: string; to: string; comparison: { from: string; to: string; totalRevenue: string } };
        };
      },
      Record<string, never>
    >(
      zone,
      `{
        dashboard(from: "2025-02-01", to: "2025-02-28") {
          comparison(period: PREVIOUS_YEAR) { from previous { comparison(period: PREVIOUS_YEAR) { period from to previous { totalRevenue } } } }
        }
        revenue(from: "2024-03-01", to: "2024-03-31", granularity: WEEK) {
          comparison { from to comparison { from to totalRevenue } }
        }
      }`,
    );
    const twoYearsBack = { from: '2023-02-01', to: '2023-02-28' };
    expect(dashboard.comparison.previous.comparison).toEqual({
      period: 'PREVIOUS_YEAR',
      ...twoYearsBack,
      previous: {
        totalRevenue: (await expectedDashboard(db(zone), zone, twoYearsBack, { limit: 1, days: 1 })).totalRevenue,
      },
    });
    expect(revenue.comparison).toMatchObject({ from: '2024-02-01', to: '2024-02-29' });
    const january = { from: '2024-01-01', to: '2024-01-31' };
    expect(revenue.comparison.comparison).toEqual({
      ...january,
      totalRevenue: (await expectedRevenue(db(zone), zone, january, 'WEEK')).totalRevenue,
    });
  });
});

describe('report days', () => {
  it('compares the days of the report zone: around the clock changes, UTC and New York disagree', async () => {
    const clockChanges = `{
      spring: dashboard(from: "2024-03-10", to: "2024-03-10") { totalRevenue comparison { totalRevenue { current previous percent } } }
      autumn: dashboard(from: "2024-11-03", to: "2024-11-03") {
        totalTransactions comparison(period: PREVIOUS_YEAR) { totalTransactions { current previous } }
      }
    }`;
    type Answer = Record<string, { comparison: Record<string, { current: unknown; previous: unknown }> }>;
    const utc = await query<Answer, Record<string, never>>('UTC', clockChanges);
    const newYork = await query<Answer, Record<string, never>>('America/New_York', clockChanges);
    for (const day of ['spring', 'autumn']) {
      const [a, b] = [Object.values(utc[day]!.comparison)[0]!, Object.values(newYork[day]!.comparison)[0]!];
      expect(a.current, day).not.toEqual(b.current);
      expect(a.previous, day).not.toEqual(b.previous);
    }
  });
});

describe('comparisons that cannot be made', () => {
  it('answers BAD_USER_INPUT naming period for a comparison that would start before 1000-01-01, and the rest of the dashboard', async () => {
    const { status, body } = await gateways
      .get('UTC')!
      .request<{ dashboard: { totalRevenue: string; comparison: null } }, Record<string, never>>(
        '{ dashboard(from: "1000-01-01", to: "1000-01-31") { totalRevenue comparison { from } } }',
      );
    expect(status).toBe(200);
    expect(body.data).toEqual({ dashboard: { totalRevenue: '0.00', comparison: null } });
    expect(body.errors).toHaveLength(1);
    expect(body.errors![0]).toMatchObject({
      path: ['dashboard', 'comparison'],
      extensions: { code: 'BAD_USER_INPUT', argumentName: 'period' },
    });
    expect(body.errors![0]!.message).toContain('1000-01-01');
  });

  it('answers BAD_USER_INPUT naming period for a series whose comparison has more buckets than a series may', async () => {
    // 3,660 days (the most a daily series has); a year earlier they are 3,661, with 29 February 2016.
    const { body } = await gateways
      .get('UTC')!
      .request<{ revenue: { totalRevenue: string; comparison: null } }, Record<string, never>>(
        '{ revenue(from: "2017-01-01", to: "2027-01-08") { totalRevenue comparison(period: PREVIOUS_YEAR) { from } } }',
      );
    expect(body.data?.revenue.comparison).toBeNull();
    expect(body.errors?.[0]).toMatchObject({
      path: ['revenue', 'comparison'],
      extensions: { code: 'BAD_USER_INPUT', argumentName: 'period' },
    });
    expect(body.errors![0]!.message).toContain('2016-01-01..2026-01-08');
  });
});

describe('without any data', () => {
  let empty: TestDatabase;
  let gateway: TestGateway;

  beforeAll(async () => {
    empty = await createTestDatabase();
    gateway = await startTestGateway(empty.handle);
  });

  afterAll(async () => {
    await gateway?.close();
    await empty?.drop();
  });

  it('covers no days, and has nothing to compare', async () => {
    const { body } = (await gateway.request(
      '{ dashboard { from to comparison { from } } revenue { from to comparison { from } } }',
    )) as { body: GraphQLResponse<unknown> };
    expect(body.errors).toBeUndefined();
    expect(body.data).toEqual({
      dashboard: { from: null, to: null, comparison: null },
      revenue: { from: null, to: null, comparison: null },
    });
  });
});
