import { Field, Float, Int, ObjectType } from 'type-graphql';
import { Node } from '../../graphql/node.type.js';
import { DecimalScalar } from '../../graphql/scalars.js';
import { toGlobalId } from '../../graphql/global-id.js';
import type { ProductRecord } from './product.repository.js';

@ObjectType({
  implements: Node,
  description: 'A catalogue product with its all-time sales figures (completed transactions only).',
})
export class Product extends Node {
  readonly __typename = 'Product';
  /** Database id; the GraphQL `id` is its global form. */
  dbId!: string;

  @Field(() => String, { description: 'Stock-keeping unit, unique per product.' })
  sku!: string;

  @Field(() => String)
  name!: string;

  @Field(() => String, { description: 'Catalogue category, e.g. "מחשבים ניידים".' })
  category!: string;

  @Field(() => DecimalScalar, { description: 'Current list price of one unit.' })
  unitPrice!: string;

  @Field(() => DecimalScalar, {
    description: 'All-time revenue: sum of `amount` over completed transactions of this product.',
  })
  revenue!: string;

  @Field(() => Int, { description: 'Units sold in completed transactions.' })
  unitsSold!: number;

  @Field(() => Int, { description: 'Number of completed transactions of this product.' })
  transactionCount!: number;

  @Field(() => Float, {
    description: "This product's revenue divided by all completed revenue (0 to 1; 0 when there is no revenue yet).",
  })
  revenueShare!: number;

  static from(record: ProductRecord): Product {
    return Object.assign(new Product(), record, { dbId: record.id, id: toGlobalId('Product', record.id) });
  }
}
