import type { Kysely } from 'kysely';
import { Field, Int, ObjectType, registerEnumType } from 'type-graphql';
import type { Database } from '../../db/database.js';
import { DateScalar, DecimalScalar } from '../../graphql/scalars.js';
import { badInput } from '../../graphql/errors.js';
import { bucketCount, MAX_SERIES_POINTS } from './revenue.buckets.js';
import { checkedComparisonRange, ComparisonPeriod, type DayBounds } from './revenue.periods.js';
import { readRevenueTotals, type RevenueTotalsRecord } from './revenue.repository.js';

export { ComparisonPeriod };

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

registerEnumType(ComparisonPeriod, {
  name: 'ComparisonPeriod',
  description: 'Which report days a range is compared with. Comparisons need a range with both ends given.',
  valuesConfig: {
    PREVIOUS_PERIOD: {
      description:
        'The period just before, ending the day before `from` and as long: the same number of whole months when `from` is the first and `to` the last day of a month (March -> February, a quarter -> the quarter before), else the same number of days.',
    },
    PREVIOUS_YEAR: {
      description: '`from` and `to` each one year earlier; 29 February becomes 28 February.',
    },
  },
});

@ObjectType({ description: 'Revenue of one bucket (day, week or month), over completed transactions only.' })
export class RevenuePoint {
  @Field(() => DateScalar, {
    description: "First day of the bucket (the day itself, the week's Monday, or the month's first day).",
  })
  date!: string;

  @Field(() => DecimalScalar, { description: 'Sum of `amount` over completed transactions in the bucket.' })
  totalRevenue!: string;

  @Field(() => Int, { description: 'Number of completed transactions in the bucket.' })
  transactionCount!: number;

  @Field(() => DecimalScalar, {
    description: 'totalRevenue / transactionCount, rounded half away from zero; 0.00 for an empty bucket.',
  })
  avgTransactionValue!: string;

  @Field(() => Int, { description: 'Distinct customers among the completed transactions in the bucket.' })
  uniqueCustomers!: number;
}

/** The parent value of a RevenueSeries: its resolved day range and bucket size. Fields resolve lazily. */
export class RevenueSeriesSource {
  constructor(
    /** Null when there is no data and no range was given. */
    readonly range: DayBounds | null,
    readonly granularity: Granularity,
    /** Whether both ends of the range were given (rather than taken from the data): only then is there a comparison. */
    readonly given: boolean,
  ) {}

  private totalsQuery?: Promise<RevenueTotalsRecord>;
  private readonly comparisons = new Map<ComparisonPeriod, RevenueSeriesSource>();

  /**
   * The same series over the range of `period`, one per period and series, so that aliases of one comparison
   * share its totals. Null unless both ends were given; BAD_USER_INPUT naming `period` when the compared range
   * would have more than MAX_SERIES_POINTS buckets (a range near the limit may compare with one a little longer:
   * a leap day more, or months of other lengths).
   */
  comparison(period: ComparisonPeriod): RevenueSeriesSource | null {
    if (!this.given || !this.range) return null;
    let compared = this.comparisons.get(period);
    if (!compared) {
      const range = checkedComparisonRange(this.range, period);
      if (bucketCount(range.from, range.to, this.granularity) > MAX_SERIES_POINTS) {
        throw badInput(
          'period',
          `compares with ${range.from}..${range.to}, more than ${MAX_SERIES_POINTS} ${this.granularity} buckets; narrow the range or use a coarser granularity`,
        );
      }
      compared = new RevenueSeriesSource(range, this.granularity, true);
      this.comparisons.set(period, compared);
    }
    return compared;
  }

  /** The three total fields share one query, run on the first of them that is asked for. */
  totals(db: Kysely<Database>): Promise<RevenueTotalsRecord> {
    if (!this.range) return Promise.resolve({ totalRevenue: '0.00', totalTransactions: 0, avgDailyRevenue: '0.00' });
    this.totalsQuery ??= readRevenueTotals(db, this.range);
    return this.totalsQuery;
  }
}

@ObjectType({ description: 'A revenue time series with its totals, over completed transactions only.' })
export class RevenueSeries {}
