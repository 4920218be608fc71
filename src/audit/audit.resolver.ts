import { Args, Authorized, Ctx, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../graphql/context.js';
import { badInput } from '../graphql/errors.js';
import { fromGlobalId } from '../graphql/global-id.js';
import { checkText } from '../graphql/validate.js';
import { connectionTypes, type ConnectionShape } from '../graphql/connection.type.js';
import { toConnectionPage, toPageRequest } from '../graphql/pagination.js';
import { AuditEntry } from './audit-entry.type.js';
import { AuditTrailArgs } from './audit.args.js';
import { auditOrder, countAuditEntries, findAuditPage, type AuditFilter } from './audit.repository.js';

export const { Connection: AuditEntryConnection } = connectionTypes('AuditEntry', AuditEntry, 'audit entries');

@Resolver(() => AuditEntry)
export class AuditResolver {
  @Authorized('admin')
  @Query(() => AuditEntryConnection, {
    nullable: true,
    description:
      'The audit trail of customer-level reads, newest first. Entries are written in batches, about a second after their request. Needs the admin role; null with FORBIDDEN otherwise.',
  })
  async auditTrail(
    @Args(() => AuditTrailArgs) args: AuditTrailArgs,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ConnectionShape<AuditEntry>> {
    // The trail names customers and grows without the data version changing: a cached page would be stale
    // and would keep customer data in the shared cache.
    ctx.neverCache = true;
    const filter: AuditFilter = {
      ...(args.principal != null ? { principal: checkText('principal', args.principal) } : {}),
      ...(args.customerId != null ? { customerId: fromGlobalId(args.customerId, 'customerId', 'Customer').id } : {}),
      ...(args.since != null ? { since: args.since } : {}),
      ...(args.until != null ? { until: args.until } : {}),
    };
    if (filter.since && filter.until && Date.parse(filter.since) > Date.parse(filter.until)) {
      throw badInput('since', `must not be after "until"; got since ${filter.since} and until ${filter.until}`);
    }
    // The filter is part of the cursor's scope: a cursor of one filtered trail does not page another.
    const scope = `audit|${JSON.stringify(filter)}`;
    const request = toPageRequest(args, ctx.cursors, scope, auditOrder);
    // On the primary, where the trail is written: its entries are not data versions a replica is checked against.
    const [rows, totalCount] = await Promise.all([
      findAuditPage(ctx.primary, filter, request),
      countAuditEntries(ctx.primary, filter),
    ]);
    return { ...toConnectionPage(rows, request, ctx.cursors, scope, (row) => AuditEntry.from(row)), totalCount };
  }
}
