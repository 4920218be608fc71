import { Arg, Ctx, FieldResolver, Int, Query, Resolver, Root } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context.js';
import { DateScalar, DecimalScalar } from '../../graphql/scalars.js';
import { checkIntRange, checkRange } from '../../graphql/validate.js';
import { Product } from '../products/product.type.js';
import { readRevenueTrend } from '../revenue/revenue.service.js';
import { ComparisonPeriod, RevenuePoint } from '../revenue/revenue.type.js';
import { DashboardComparison } from './dashboard-comparison.type.js';
import { findTopProducts } from './dashboard.repository.js';
import { Dashboard, DashboardComparisonSource, DashboardSource, ProductRevenue } from './dashboard.type.js';

export const MAX_TOP_PRODUCTS = 50;
export const MAX_TREND_DAYS = 366;

@Resolver(() => Dashboard)
export class DashboardResolver {
  @Query(() => Dashboard, {
    description: 'Key figures for the report days `from`..`to` (inclusive). Without them: all data.',
  })
  dashboard(
    @Arg('from', () => DateScalar, { nullable: true, description: 'First day, inclusive.' }) from: string | null,
    @Arg('to', () => DateScalar, { nullable: true, description: 'Last day, inclusive.' }) to: string | null,
  ): DashboardSource {
    return new DashboardSource(checkRange(from, to));
  }

  @FieldResolver(() => DateScalar, {
    nullable: true,
    description:
      'First report day this dashboard covers: `from` as given, or without it the first day that has a transaction. Null when the range holds no days (no data, or none up to `to`).',
  })
  async from(@Root() dashboard: DashboardSource, @Ctx() ctx: GraphQLContext): Promise<string | null> {
    return (await dashboard.days(ctx.db))?.from ?? null;
  }

  @FieldResolver(() => DateScalar, {
    nullable: true,
    description:
      'Last report day this dashboard covers: `to` as given, or without it the last day that has a transaction. Null when the range holds no days (no data, or none from `from` on).',
  })
  async to(@Root() dashboard: DashboardSource, @Ctx() ctx: GraphQLContext): Promise<string | null> {
    return (await dashboard.days(ctx.db))?.to ?? null;
  }

  @FieldResolver(() => DashboardComparison, {
    nullable: true,
    description:
      'This dashboard beside the dashboard of another range: the whole `previous` dashboard and the changes of the key figures (e.g. revenue +12.50 % against the previous period). Null unless the dashboard was asked for with both `from` and `to`. Both dashboards are read at the same time.',
  })
  comparison(
    @Root() dashboard: DashboardSource,
    @Arg('period', () => ComparisonPeriod, {
      nullable: true,
      defaultValue: ComparisonPeriod.PREVIOUS_PERIOD,
      description: 'Which days to compare with: the period before (default) or the same days a year earlier.',
    })
    period: ComparisonPeriod | null,
  ): DashboardComparisonSource | null {
    return dashboard.comparison(period ?? ComparisonPeriod.PREVIOUS_PERIOD);
  }

  @FieldResolver(() => DecimalScalar, { description: 'Sum of `amount` over completed transactions.' })
  async totalRevenue(@Root() dashboard: DashboardSource, @Ctx() ctx: GraphQLContext): Promise<string> {
    return (await dashboard.totals(ctx.db)).totalRevenue;
  }

  @FieldResolver(() => Int, { description: 'Transactions of every status.' })
  async totalTransactions(@Root() dashboard: DashboardSource, @Ctx() ctx: GraphQLContext): Promise<number> {
    return (await dashboard.totals(ctx.db)).totalTransactions;
  }

  @FieldResolver(() => Int, { description: 'Completed transactions: the ones that count as revenue.' })
  async completedTransactions(@Root() dashboard: DashboardSource, @Ctx() ctx: GraphQLContext): Promise<number> {
    return (await dashboard.totals(ctx.db)).completedTransactions;
  }

  @FieldResolver(() => Int, { description: 'Pending transactions (not revenue yet).' })
  async pendingTransactions(@Root() dashboard: DashboardSource, @Ctx() ctx: GraphQLContext): Promise<number> {
    return (await dashboard.totals(ctx.db)).pendingTransactions;
  }

  @FieldResolver(() => Int, { description: 'Cancelled transactions (never revenue).' })
  async cancelledTransactions(@Root() dashboard: DashboardSource, @Ctx() ctx: GraphQLContext): Promise<number> {
    return (await dashboard.totals(ctx.db)).cancelledTransactions;
  }

  @FieldResolver(() => DecimalScalar, {
    description:
      'totalRevenue / completedTransactions, rounded half away from zero to cents; 0.00 without completed transactions.',
  })
  async avgOrderValue(@Root() dashboard: DashboardSource, @Ctx() ctx: GraphQLContext): Promise<string> {
    return (await dashboard.totals(ctx.db)).avgOrderValue;
  }

  @FieldResolver(() => [ProductRevenue], {
    description: `Products by revenue in the range, descending, ties by product id ascending; limit 1 to ${MAX_TOP_PRODUCTS}.`,
  })
  async topProducts(
    @Root() dashboard: DashboardSource,
    @Arg('limit', () => Int, { nullable: true, defaultValue: 5 }) limit: number | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ProductRevenue[]> {
    const count = checkIntRange('limit', limit ?? 5, 1, MAX_TOP_PRODUCTS);
    const rows = await findTopProducts(ctx.db, dashboard.range, count);
    // The ranking statement already read each product: prime the request's loader instead of asking again.
    for (const row of rows) ctx.loaders.productById.prime(row.productId, row.product);
    return rows.map(({ productId, revenue, unitsSold, transactionCount }) =>
      Object.assign(new ProductRevenue(), { productId, revenue, unitsSold, transactionCount }),
    );
  }

  @FieldResolver(() => [RevenuePoint], {
    description: `Exactly \`days\` daily points (1 to ${MAX_TREND_DAYS}), ascending and zero-filled, ending at \`to\` or, without it, at the last day that has a transaction.`,
  })
  async recentTrend(
    @Root() dashboard: DashboardSource,
    @Arg('days', () => Int, { nullable: true, defaultValue: 30 }) days: number | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<RevenuePoint[]> {
    return readRevenueTrend(ctx.db, dashboard.range.to, checkIntRange('days', days ?? 30, 1, MAX_TREND_DAYS));
  }
}

@Resolver(() => ProductRevenue)
export class ProductRevenueResolver {
  @FieldResolver(() => Product)
  async product(@Root() entry: ProductRevenue, @Ctx() ctx: GraphQLContext): Promise<Product> {
    const record = await ctx.loaders.productById.load(entry.productId);
    if (!record) throw new Error(`product ${entry.productId} has sales but no catalogue row`);
    return Product.from(record);
  }
}
