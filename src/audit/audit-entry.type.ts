import { Field, ID, Int, ObjectType } from 'type-graphql';
import { toGlobalId } from '../graphql/global-id.js';
import { DateTimeScalar } from '../graphql/scalars.js';
import type { AuditRecord } from './audit.repository.js';

@ObjectType({
  description:
    'One request that read customer-level data, or one result holding such data sent to a subscription: who asked, with which role, and which customers the answer held.',
})
export class AuditEntry {
  @Field(() => ID, { description: 'Position of the entry in the trail (ascending in the order entries were written).' })
  id!: string;

  @Field(() => DateTimeScalar, {
    description: 'When the request arrived; for a subscription, when the result was sent.',
  })
  occurredAt!: string;

  @Field(() => String, {
    description:
      'The request id: the `x-request-id` the client sent, or the one the gateway made and returned in that header. For a subscription, that of its WebSocket upgrade request, then `#` and the subscription id.',
  })
  requestId!: string;

  @Field(() => String, {
    description: '`jwt:<subject>`, `api-key:<id>`, or `anonymous` when the gateway runs without authentication.',
  })
  principal!: string;

  @Field(() => String, { description: 'The role the request was answered with: viewer, analyst or admin.' })
  role!: string;

  @Field(() => String, { nullable: true, description: 'The client address the gateway saw.' })
  clientIp!: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'The operation name the client gave; null for anonymous operations.',
  })
  operationName!: string | null;

  @Field(() => Int, { description: 'How many distinct customers the answer held.' })
  customerCount!: number;

  @Field(() => [ID], { description: 'Global ids of those customers (for `node` or `customer`).' })
  customerIds!: string[];

  static from(record: AuditRecord): AuditEntry {
    return Object.assign(new AuditEntry(), record, {
      customerIds: record.customerIds.map((id) => toGlobalId('Customer', id)),
    });
  }
}
