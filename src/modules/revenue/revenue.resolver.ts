import type { Kysely } from 'kysely';
import { Arg, Ctx, FieldResolver, Int, Query, Resolver, Root } from 'type-graphql';
import type { Database } from '../../db/database.js';
import type { GraphQLContext } from '../../graphql/context.js';
import { badInput } from '../../graphql/errors.js';
import { DateScalar, DecimalScalar, isCalendarDate, UnrepresentableValueError } from '../../graphql/scalars.js';
import { checkRange } from '../../graphql/validate.js';
import { bucketCount, MAX_SERIES_POINTS } from './revenue.buckets.js';
import { resolveDays } from './revenue.periods.js';
import { readDataBounds, readRevenuePoints } from './revenue.repository.js';
import { ComparisonPeriod, Granularity, RevenuePoint, RevenueSeries, RevenueSeriesSource } from './revenue.type.js';

/**
 * The series `revenue` answers (and `revenueUpdated` pushes, and the revenue export writes): an open end is taken
 * from the data. BAD_USER_INPUT naming `from` for a range of more than MAX_SERIES_POINTS buckets.
 */
export async function resolveRevenueSeries(
  db: Kysely<Database>,
  from: string | null,
  to: string | null,
  granularityArg: Granularity | null,
): Promise<RevenueSeriesSource> {
  const granularity = granularityArg ?? Granularity.DAY;
  const range = checkRange(from, to);
  const given = range.from !== undefined && range.to !== undefined;
  const bounds = given ? undefined : await readDataBounds(db);
  // A day outside the years 0001-9999 (stored before PostgreSQL refused such dates) cannot be shown, nor compared
  // as text ('10000-01-01' sorts before '2025-03-10'): an error of this field rather than a silently empty series.
  for (const day of [bounds?.firstDay, bounds?.lastDay]) {
    if (day && !isCalendarDate(day)) throw new UnrepresentableValueError('Date', day);
  }
  const days = resolveDays(range, bounds);
  if (!days) return new RevenueSeriesSource(null, granularity, given);
  if (bucketCount(days.from, days.to, granularity) > MAX_SERIES_POINTS) {
    throw badInput(
      'from',
      `spans more than ${MAX_SERIES_POINTS} ${granularity} buckets; narrow the range or use a coarser granularity`,
    );
  }
  return new RevenueSeriesSource(days, granularity, given);
}

@Resolver(() => RevenueSeries)
export class RevenueResolver {
  @Query(() => RevenueSeries, {
    description:
      'Revenue over time in day, week or month buckets, zero-filled, over completed transactions. `from` and `to` are inclusive report days; without them the series spans the first to the last day that has a transaction.',
  })
  async revenue(
    @Arg('from', () => DateScalar, { nullable: true, description: 'First day, inclusive.' }) from: string | null,
    @Arg('to', () => DateScalar, { nullable: true, description: 'Last day, inclusive.' }) to: string | null,
    @Arg('granularity', () => Granularity, { nullable: true, defaultValue: Granularity.DAY })
    granularityArg: Granularity | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<RevenueSeriesSource> {
    return resolveRevenueSeries(ctx.db, from, to, granularityArg);
  }

  @FieldResolver(() => DateScalar, {
    nullable: true,
    description: 'First day of the range the series covers; null when there is no data.',
  })
  from(@Root() series: RevenueSeriesSource): string | null {
    return series.range?.from ?? null;
  }

  @FieldResolver(() => DateScalar, {
    nullable: true,
    description: 'Last day of the range the series covers; null when there is no data.',
  })
  to(@Root() series: RevenueSeriesSource): string | null {
    return series.range?.to ?? null;
  }

  @FieldResolver(() => Granularity)
  granularity(@Root() series: RevenueSeriesSource): Granularity {
    return series.granularity;
  }

  @FieldResolver(() => [RevenuePoint], {
    description: 'Every bucket of the range in ascending order, including empty ones (zeros).',
  })
  async points(@Root() series: RevenueSeriesSource, @Ctx() ctx: GraphQLContext): Promise<RevenuePoint[]> {
    if (!series.range) return [];
    return readRevenuePoints(ctx.db, series.range, series.granularity);
  }

  @FieldResolver(() => RevenueSeries, {
    nullable: true,
    description:
      'The same series (same granularity and fields) over the report days `period` compares this range with. Null unless the series was asked for with both `from` and `to`. A comparison has its own `comparison` in turn (the year before last, say); each one reads its own figures and is priced like any series.',
  })
  comparison(
    @Root() series: RevenueSeriesSource,
    @Arg('period', () => ComparisonPeriod, {
      nullable: true,
      defaultValue: ComparisonPeriod.PREVIOUS_PERIOD,
      description: 'Which days to compare with: the period before (default) or the same days a year earlier.',
    })
    period: ComparisonPeriod | null,
  ): RevenueSeriesSource | null {
    return series.comparison(period ?? ComparisonPeriod.PREVIOUS_PERIOD);
  }

  @FieldResolver(() => DecimalScalar, { description: 'Sum of `amount` over completed transactions in the range.' })
  async totalRevenue(@Root() series: RevenueSeriesSource, @Ctx() ctx: GraphQLContext): Promise<string> {
    return (await series.totals(ctx.db)).totalRevenue;
  }

  @FieldResolver(() => Int, { description: 'Number of completed transactions in the range.' })
  async totalTransactions(@Root() series: RevenueSeriesSource, @Ctx() ctx: GraphQLContext): Promise<number> {
    return (await series.totals(ctx.db)).totalTransactions;
  }

  @FieldResolver(() => DecimalScalar, {
    description: 'totalRevenue / number of calendar days in the range, rounded half away from zero.',
  })
  async avgDailyRevenue(@Root() series: RevenueSeriesSource, @Ctx() ctx: GraphQLContext): Promise<string> {
    return (await series.totals(ctx.db)).avgDailyRevenue;
  }
}
