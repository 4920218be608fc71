import { Field, Int, ObjectType } from 'type-graphql';
import { Node } from '../../graphql/node.type.js';
import { DateTimeScalar, DecimalScalar } from '../../graphql/scalars.js';
import { toGlobalId } from '../../graphql/global-id.js';
import type { CustomerRecord } from './customer.repository.js';

@ObjectType({
  implements: Node,
  description: 'A business customer with lifetime figures over its completed transactions.',
})
export class Customer extends Node {
  readonly __typename = 'Customer';
  /** Database id; the GraphQL `id` is its global form. */
  dbId!: string;

  @Field(() => String)
  name!: string;

  @Field(() => String, { nullable: true })
  email!: string | null;

  @Field(() => String, { nullable: true })
  city!: string | null;

  @Field(() => DecimalScalar, {
    description: 'Sum of `amount` over completed transactions; 0.00 for a customer who never completed one.',
  })
  lifetimeValue!: string;

  @Field(() => Int, { description: 'Number of completed transactions.' })
  transactionCount!: number;

  @Field(() => DecimalScalar, {
    description: 'lifetimeValue / transactionCount, rounded half away from zero to cents; 0.00 without transactions.',
  })
  avgOrderValue!: string;

  @Field(() => DateTimeScalar, { nullable: true, description: 'Time of the first completed transaction.' })
  firstPurchaseAt!: string | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'Time of the latest completed transaction.' })
  lastPurchaseAt!: string | null;

  static from(record: CustomerRecord): Customer {
    return Object.assign(new Customer(), record, { dbId: record.id, id: toGlobalId('Customer', record.id) });
  }
}
