import { Arg, Args, Authorized, Ctx, FieldResolver, ID, Int, Query, Resolver, Root, UseMiddleware } from 'type-graphql';
import { RecordCustomerAccess } from '../../graphql/customer-access.js';
import type { GraphQLContext } from '../../graphql/context.js';
import { fromGlobalId } from '../../graphql/global-id.js';
import { checkIntRange, checkText } from '../../graphql/validate.js';
import { connectionTypes, type ConnectionShape } from '../../graphql/connection.type.js';
import { toConnectionPage, toPageRequest } from '../../graphql/pagination.js';
import { Customer } from '../customers/customer.type.js';
import { ProductsArgs, productSort } from './product.args.js';
import { countProducts, findProductPage, productOrder } from './product.repository.js';
import { Product } from './product.type.js';

export const { Connection: ProductConnection } = connectionTypes('Product', Product, 'products');

export const MAX_TOP_CUSTOMERS = 20;

@Resolver(() => Product)
export class ProductResolver {
  @Query(() => ProductConnection, { description: 'Products with their all-time sales figures, a page at a time.' })
  async products(
    @Args(() => ProductsArgs) args: ProductsArgs,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ConnectionShape<Product>> {
    const category = checkText('category', args.category);
    const sort = productSort(args.orderBy);
    const order = productOrder(sort.field, sort.direction);
    const scope = `products|${sort.field}|${sort.direction}|${category ?? ''}`;
    const request = toPageRequest(args, ctx.cursors, scope, order);
    const [rows, totalCount] = await Promise.all([
      findProductPage(ctx.db, { category }, order, request),
      countProducts(ctx.db, { category }),
    ]);
    return { ...toConnectionPage(rows, request, ctx.cursors, scope, (row) => Product.from(row)), totalCount };
  }

  @Query(() => Product, { nullable: true, description: 'One product by global id; null when no such product exists.' })
  async product(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Product | null> {
    const record = await ctx.loaders.productById.load(fromGlobalId(id, 'id', 'Product').id);
    return record ? Product.from(record) : null;
  }

  @UseMiddleware(RecordCustomerAccess())
  @Authorized('analyst')
  @FieldResolver(() => [Customer], {
    // Nullable so that FORBIDDEN for a viewer leaves the product itself answered.
    nullable: true,
    description: `The customers with the most revenue on this product (completed transactions), ties by customer id; limit 1 to ${MAX_TOP_CUSTOMERS}. Needs the analyst role; null with FORBIDDEN otherwise.`,
  })
  async topCustomers(
    @Root() product: Product,
    @Arg('limit', () => Int, { nullable: true, defaultValue: 3 }) limit: number | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Customer[]> {
    const count = checkIntRange('limit', limit ?? 3, 1, MAX_TOP_CUSTOMERS);
    const ids = await ctx.loaders.topCustomerIdsByProductId.load({ productId: product.dbId, limit: count });
    const records = await ctx.loaders.customerById.loadMany(ids);
    return records.flatMap((record) => {
      if (record instanceof Error) throw record;
      return record ? [Customer.from(record)] : [];
    });
  }
}
