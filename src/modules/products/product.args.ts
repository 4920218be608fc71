import { ArgsType, Field, InputType, registerEnumType } from 'type-graphql';
import { ConnectionArgs } from '../../graphql/pagination.js';
import { OrderDirection } from '../../graphql/connection.type.js';
import type { ProductSortField } from './product.repository.js';

export enum ProductOrderField {
  REVENUE = 'REVENUE',
  UNITS_SOLD = 'UNITS_SOLD',
  NAME = 'NAME',
}
registerEnumType(ProductOrderField, {
  name: 'ProductOrderField',
  description: 'What to sort products by.',
  valuesConfig: {
    REVENUE: { description: 'All-time revenue from completed transactions.' },
    UNITS_SOLD: { description: 'Units sold in completed transactions.' },
    NAME: { description: 'Product name, in the database collation.' },
  },
});

@InputType({ description: 'Sort order of a products page. Ties are broken by id ascending.' })
export class ProductOrder {
  @Field(() => ProductOrderField)
  field!: ProductOrderField;

  @Field(() => OrderDirection)
  direction!: OrderDirection;
}

@ArgsType()
export class ProductsArgs extends ConnectionArgs {
  @Field(() => ProductOrder, { nullable: true, description: 'Default: REVENUE DESC.' })
  orderBy?: ProductOrder | null;

  @Field(() => String, { nullable: true, description: 'Only products of exactly this category.' })
  category?: string | null;
}

export function productSort(order: ProductOrder | null | undefined): {
  field: ProductSortField;
  direction: 'asc' | 'desc';
} {
  return { field: order?.field ?? ProductOrderField.REVENUE, direction: order?.direction ?? OrderDirection.DESC };
}
