import { Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context.js';
import { DateScalar } from '../../graphql/scalars.js';
import { ComparisonPeriod } from '../revenue/revenue.type.js';
import { countChange, moneyChange } from './change.arithmetic.js';
import { CountChange, DashboardComparison, MoneyChange } from './dashboard-comparison.type.js';
import { Dashboard, DashboardComparisonSource, DashboardSource } from './dashboard.type.js';

@Resolver(() => DashboardComparison)
export class DashboardComparisonResolver {
  @FieldResolver(() => ComparisonPeriod, { description: 'How the range compared with was chosen.' })
  period(@Root() comparison: DashboardComparisonSource): ComparisonPeriod {
    return comparison.period;
  }

  @FieldResolver(() => DateScalar, { description: 'First day of the range compared with, inclusive.' })
  from(@Root() comparison: DashboardComparisonSource): string {
    return comparison.previous.range.from!;
  }

  @FieldResolver(() => DateScalar, { description: 'Last day of the range compared with, inclusive.' })
  to(@Root() comparison: DashboardComparisonSource): string {
    return comparison.previous.range.to!;
  }

  @FieldResolver(() => Dashboard, {
    description:
      'The whole dashboard of the range compared with: every field of a dashboard, its own `comparison` included (which reads its own figures and is priced like any other field).',
  })
  previous(@Root() comparison: DashboardComparisonSource): DashboardSource {
    return comparison.previous;
  }

  @FieldResolver(() => MoneyChange, {
    description: 'Completed revenue (`totalRevenue`) against the range compared with.',
  })
  async totalRevenue(@Root() comparison: DashboardComparisonSource, @Ctx() ctx: GraphQLContext): Promise<MoneyChange> {
    const { current, previous } = await comparison.totals(ctx.db);
    return Object.assign(new MoneyChange(), moneyChange(current.totalRevenue, previous.totalRevenue));
  }

  @FieldResolver(() => MoneyChange, {
    description: 'Average order value (`avgOrderValue`) against the range compared with.',
  })
  async avgOrderValue(@Root() comparison: DashboardComparisonSource, @Ctx() ctx: GraphQLContext): Promise<MoneyChange> {
    const { current, previous } = await comparison.totals(ctx.db);
    return Object.assign(new MoneyChange(), moneyChange(current.avgOrderValue, previous.avgOrderValue));
  }

  @FieldResolver(() => CountChange, {
    description: 'Transactions of every status (`totalTransactions`) against the range compared with.',
  })
  async totalTransactions(
    @Root() comparison: DashboardComparisonSource,
    @Ctx() ctx: GraphQLContext,
  ): Promise<CountChange> {
    const { current, previous } = await comparison.totals(ctx.db);
    return Object.assign(new CountChange(), countChange(current.totalTransactions, previous.totalTransactions));
  }

  @FieldResolver(() => CountChange, {
    description: 'Completed transactions (`completedTransactions`) against the range compared with.',
  })
  async completedTransactions(
    @Root() comparison: DashboardComparisonSource,
    @Ctx() ctx: GraphQLContext,
  ): Promise<CountChange> {
    const { current, previous } = await comparison.totals(ctx.db);
    return Object.assign(new CountChange(), countChange(current.completedTransactions, previous.completedTransactions));
  }
}
