import { Arg, Resolver, Subscription } from 'type-graphql';
import { DateScalar } from '../../graphql/scalars.js';
import { checkRange } from '../../graphql/validate.js';
import { servedByLiveQueries } from '../../graphql/served-by-live-queries.js';
import { Dashboard, DashboardSource } from './dashboard.type.js';

@Resolver()
export class DashboardSubscriptionResolver {
  @Subscription(() => Dashboard, {
    description:
      'The `dashboard` of `from`..`to`, live: the current figures at once, then new ones whenever a change in the data changes the selected fields (changes are gathered for a moment first, so a burst of writes gives one update).',
    subscribe: servedByLiveQueries,
  })
  dashboardUpdated(
    @Arg('from', () => DateScalar, { nullable: true, description: 'First day, inclusive.' }) from: string | null,
    @Arg('to', () => DateScalar, { nullable: true, description: 'Last day, inclusive.' }) to: string | null,
  ): DashboardSource {
    return new DashboardSource(checkRange(from, to));
  }
}
