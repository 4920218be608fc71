import { Arg, Args, Authorized, Ctx, FieldResolver, ID, Query, Resolver, Root, UseMiddleware } from 'type-graphql';
import { RecordCustomerAccess } from '../../graphql/customer-access.js';
import type { GraphQLContext } from '../../graphql/context.js';
import { fromGlobalId } from '../../graphql/global-id.js';
import { checkText } from '../../graphql/validate.js';
import { connectionTypes, type ConnectionShape } from '../../graphql/connection.type.js';
import { toConnectionPage, toPageRequest } from '../../graphql/pagination.js';
import { Product } from '../products/product.type.js';
import { CustomersArgs, customerSort } from './customer.args.js';
import { countCustomers, customerOrder, findCustomerPage } from './customer.repository.js';
import { Customer } from './customer.type.js';

export const { Connection: CustomerConnection } = connectionTypes('Customer', Customer, 'customers');

@Resolver(() => Customer)
export class CustomerResolver {
  @Authorized('analyst')
  @UseMiddleware(RecordCustomerAccess())
  @Query(() => CustomerConnection, {
    // Nullable so that a caller below the analyst role gets FORBIDDEN here and the rest of the query answered.
    nullable: true,
    description:
      'Customers with their lifetime figures, a page at a time. Every customer appears, also one without completed transactions. Needs the analyst role; null with FORBIDDEN otherwise.',
  })
  async customers(
    @Args(() => CustomersArgs) args: CustomersArgs,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ConnectionShape<Customer>> {
    const search = checkText('search', args.search) || undefined;
    const sort = customerSort(args.orderBy);
    const order = customerOrder(sort.field, sort.direction);
    const scope = `customers|${sort.field}|${sort.direction}|${search ?? ''}`;
    const request = toPageRequest(args, ctx.cursors, scope, order);
    const [rows, totalCount] = await Promise.all([
      findCustomerPage(ctx.db, { search }, order, request),
      countCustomers(ctx.db, { search }),
    ]);
    return { ...toConnectionPage(rows, request, ctx.cursors, scope, (row) => Customer.from(row)), totalCount };
  }

  @Authorized('analyst')
  @UseMiddleware(RecordCustomerAccess())
  @Query(() => Customer, {
    nullable: true,
    description: 'One customer by global id; null when no such customer exists.',
  })
  async customer(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Customer | null> {
    const record = await ctx.loaders.customerById.load(fromGlobalId(id, 'id', 'Customer').id);
    return record ? Customer.from(record) : null;
  }

  @Authorized('analyst')
  @FieldResolver(() => Product, {
    nullable: true,
    description:
      'The product this customer spent the most on (completed transactions), ties by product id; null before any purchase.',
  })
  async favoriteProduct(@Root() customer: Customer, @Ctx() ctx: GraphQLContext): Promise<Product | null> {
    const productId = await ctx.loaders.favoriteProductIdByCustomerId.load(customer.dbId);
    if (productId === null) return null;
    const record = await ctx.loaders.productById.load(productId);
    return record ? Product.from(record) : null;
  }
}
