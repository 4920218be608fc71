import { Arg, Ctx, ID, Query, Resolver, UseMiddleware } from 'type-graphql';
import { RecordCustomerAccess } from '../../graphql/customer-access.js';
import { requireRole } from '../../auth/principal.js';
import { Customer } from '../customers/customer.type.js';
import { Product } from '../products/product.type.js';
import type { GraphQLContext } from '../../graphql/context.js';
import { fromGlobalId } from '../../graphql/global-id.js';
import { Node } from '../../graphql/node.type.js';

@Resolver()
export class NodeResolver {
  @UseMiddleware(RecordCustomerAccess(false))
  @Query(() => Node, { nullable: true, description: 'Any object by its global id; null when it does not exist.' })
  async node(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Node | null> {
    const global = fromGlobalId(id);
    if (global.type === 'Customer') {
      // Customer-level data: the same role as the customers query.
      requireRole(ctx.principal, 'analyst');
      const record = await ctx.loaders.customerById.load(global.id);
      return record ? Customer.from(record) : null;
    }
    const record = await ctx.loaders.productById.load(global.id);
    return record ? Product.from(record) : null;
  }
}
