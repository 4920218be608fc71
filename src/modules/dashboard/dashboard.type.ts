import type { Kysely } from 'kysely';
import { Field, Int, ObjectType } from 'type-graphql';
import type { Database } from '../../db/database.js';
import { DecimalScalar } from '../../graphql/scalars.js';
import type { DayRange } from '../../db/day-range.js';
import { checkedComparisonRange, ComparisonPeriod, resolveDays, type DayBounds } from '../revenue/revenue.periods.js';
import { readDataBounds } from '../revenue/revenue.service.js';
import { readDashboardTotals, type DashboardTotalsRecord } from './dashboard.repository.js';

@ObjectType({ description: "A product's sales within the dashboard's range (completed transactions only)." })
export class ProductRevenue {
  /** Database id of the product; `product` itself is loaded in a batch with the rest of the request. */
  productId!: string;

  @Field(() => DecimalScalar, { description: 'Revenue of this product in the range.' })
  revenue!: string;

  @Field(() => Int, { description: 'Units sold in the range.' })
  unitsSold!: number;

  @Field(() => Int, { description: 'Completed transactions of this product in the range.' })
  transactionCount!: number;
}

/**
 * The parent value of a Dashboard: just its range. Each field runs only the query it needs when asked;
 * the totals, top products and trend queries start together, so they run concurrently.
 */
export class DashboardSource {
  constructor(readonly range: DayRange) {}

  private totalsQuery?: Promise<DashboardTotalsRecord>;
  private daysQuery?: Promise<DayBounds | null>;
  private readonly comparisons = new Map<ComparisonPeriod, DashboardComparisonSource>();

  totals(db: Kysely<Database>): Promise<DashboardTotalsRecord> {
    this.totalsQuery ??= readDashboardTotals(db, this.range);
    return this.totalsQuery;
  }

  /** The report days covered: the range, its open ends taken from the data; null when that leaves no days. */
  days(db: Kysely<Database>): Promise<DayBounds | null> {
    const { from, to } = this.range;
    if (from !== undefined && to !== undefined) return Promise.resolve({ from, to });
    this.daysQuery ??= readDataBounds(db).then((bounds) => resolveDays(this.range, bounds));
    return this.daysQuery;
  }

  /**
   * This dashboard beside the one `period` compares it with; null unless both ends of the range were given.
   * One per period: aliases of a comparison, and the changes beside its `previous`, share its statements.
   */
  comparison(period: ComparisonPeriod): DashboardComparisonSource | null {
    const { from, to } = this.range;
    if (from === undefined || to === undefined) return null;
    let comparison = this.comparisons.get(period);
    if (!comparison) {
      comparison = new DashboardComparisonSource(
        period,
        this,
        new DashboardSource(checkedComparisonRange({ from, to }, period)),
      );
      this.comparisons.set(period, comparison);
    }
    return comparison;
  }
}

/** The parent value of a DashboardComparison: the dashboard asked for and the one it is compared with. */
export class DashboardComparisonSource {
  constructor(
    readonly period: ComparisonPeriod,
    readonly current: DashboardSource,
    readonly previous: DashboardSource,
  ) {}

  /** Both totals, read at the same time (the current ones are the very figures the dashboard itself serves). */
  async totals(db: Kysely<Database>): Promise<{ current: DashboardTotalsRecord; previous: DashboardTotalsRecord }> {
    const [current, previous] = await Promise.all([this.current.totals(db), this.previous.totals(db)]);
    return { current, previous };
  }
}

@ObjectType({ description: 'Key figures for a range of report days. Revenue counts completed transactions only.' })
export class Dashboard {}
