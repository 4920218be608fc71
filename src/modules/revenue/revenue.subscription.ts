import { Arg, Ctx, Resolver, Subscription } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context.js';
import { DateScalar } from '../../graphql/scalars.js';
import { servedByLiveQueries } from '../../graphql/served-by-live-queries.js';
import { resolveRevenueSeries } from './revenue.resolver.js';
import { Granularity, RevenueSeries, RevenueSeriesSource } from './revenue.type.js';

@Resolver()
export class RevenueSubscriptionResolver {
  @Subscription(() => RevenueSeries, {
    description:
      'The `revenue` series, live: the current series at once, then a new one whenever a change in the data changes the selected fields (changes are gathered for a moment first, so a burst of writes gives one update). An open end follows the data.',
    subscribe: servedByLiveQueries,
  })
  revenueUpdated(
    @Arg('from', () => DateScalar, { nullable: true, description: 'First day, inclusive.' }) from: string | null,
    @Arg('to', () => DateScalar, { nullable: true, description: 'Last day, inclusive.' }) to: string | null,
    @Arg('granularity', () => Granularity, { nullable: true, defaultValue: Granularity.DAY })
    granularity: Granularity | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<RevenueSeriesSource> {
    return resolveRevenueSeries(ctx.db, from, to, granularity);
  }
}
