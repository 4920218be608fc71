import { ArgsType, Field, InputType, registerEnumType } from 'type-graphql';
import { ConnectionArgs } from '../../graphql/pagination.js';
import { OrderDirection } from '../../graphql/connection.type.js';
import type { CustomerSortField } from './customer.repository.js';

export enum CustomerOrderField {
  LIFETIME_VALUE = 'LIFETIME_VALUE',
  TRANSACTION_COUNT = 'TRANSACTION_COUNT',
  LAST_PURCHASE_AT = 'LAST_PURCHASE_AT',
  NAME = 'NAME',
}
registerEnumType(CustomerOrderField, {
  name: 'CustomerOrderField',
  description: 'What to sort customers by.',
  valuesConfig: {
    LIFETIME_VALUE: { description: 'Revenue from completed transactions, all time.' },
    TRANSACTION_COUNT: { description: 'Number of completed transactions.' },
    LAST_PURCHASE_AT: {
      description: 'Time of the latest completed transaction; customers who never bought sort last.',
    },
    NAME: { description: 'Customer name, in the database collation.' },
  },
});

@InputType({ description: 'Sort order of a customers page. Ties are broken by id ascending; nulls sort last.' })
export class CustomerOrder {
  @Field(() => CustomerOrderField)
  field!: CustomerOrderField;

  @Field(() => OrderDirection)
  direction!: OrderDirection;
}

@ArgsType()
export class CustomersArgs extends ConnectionArgs {
  @Field(() => CustomerOrder, { nullable: true, description: 'Default: LIFETIME_VALUE DESC.' })
  orderBy?: CustomerOrder | null;

  @Field(() => String, {
    nullable: true,
    description:
      'Only customers whose name contains this text, ignoring case. Taken literally: `%` and `_` are plain characters.',
  })
  search?: string | null;
}

export function customerSort(order: CustomerOrder | null | undefined): {
  field: CustomerSortField;
  direction: 'asc' | 'desc';
} {
  return {
    field: order?.field ?? CustomerOrderField.LIFETIME_VALUE,
    direction: order?.direction ?? OrderDirection.DESC,
  };
}
