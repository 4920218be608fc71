import { ArgsType, Field, ID } from 'type-graphql';
import { DateTimeScalar } from '../graphql/scalars.js';
import { ConnectionArgs } from '../graphql/pagination.js';

@ArgsType()
export class AuditTrailArgs extends ConnectionArgs {
  @Field(() => String, {
    nullable: true,
    description: 'Only entries of this principal (`jwt:<subject>`, `api-key:<id>`, `anonymous`).',
  })
  principal?: string | null;

  @Field(() => ID, { nullable: true, description: 'Only entries whose answer held this customer (its global id).' })
  customerId?: string | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'Only entries at or after this instant.' })
  since?: string | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'Only entries before this instant.' })
  until?: string | null;
}
