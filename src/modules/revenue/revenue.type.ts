import type { Kysely } from 'kysely';
import { Field, Int, ObjectType, registerEnumType } from 'type-graphql';
import type { Database } from '../../db/database.js';
import { DateScalar, DecimalScalar } from '../../graphql/scalars.js';
import { readRevenueTotals, type RevenueTotalsRecord } from './revenue.repository.js';

export enum Granularity {
  DAY = 'day',
  WEEK = 'week',
  MONTH = 'month',
}
registerEnumType(Granularity, {
  name: 'Granularity',
  description: 'Bucket size of a revenue series. Days are report days in REPORT_TIMEZONE.',
  valuesConfig: {
    DAY: { description: 'One point per calendar day.' },
    WEEK: { description: 'One point per week, Monday to Sunday; the point date is the Monday.' },
    MONTH: { description: 'One point per calendar month; the point date is the first of the month.' },
  },
});

@ObjectType({ description: 'Revenue of one bucket (day, week or month), over completed transactions only.' })
export class RevenuePoint {
  @Field(() => DateScalar, { description: "First day of the bucket (the day itself, the week's Monday, or the month's first day)." })
  date!: string;

  @Field(() => DecimalScalar, { description: 'Sum of `amount` over completed transactions in the bucket.' })
  totalRevenue!: string;

  @Field(() => Int, { description: 'Number of completed transactions in the bucket.' })
  transactionCount!: number;

  @Field(() => DecimalScalar, { description: 'totalRevenue / transactionCount, rounded half away from zero; 0.00 for an empty bucket.' })
  avgTransactionValue!: string;

  @Field(() => Int, { description: 'Distinct customers among the completed transactions in the bucket.' })
  uniqueCustomers!: number;
}

/** The parent value of a RevenueSeries: its resolved day range and bucket size. Fields resolve lazily. */
export class RevenueSeriesSource {
  constructor(
    /** Null when there is no data and no range was given. */
    readonly range: { from: string; to: string } | null,
    readonly granularity: Granularity,
  ) {}

  private totalsQuery?: Promise<RevenueTotalsRecord>;

  /** The three total fields share one query, run on the first of them that is asked for. */
  totals(db: Kysely<Database>): Promise<RevenueTotalsRecord> {
    if (!this.range) return Promise.resolve({ totalRevenue: '0.00', totalTransactions: 0, avgDailyRevenue: '0.00' });
    this.totalsQuery ??= readRevenueTotals(db, this.range);
    return this.totalsQuery;
  }
}

@ObjectType({ description: 'A revenue time series with its totals, over completed transactions only.' })
export class RevenueSeries {}
