import { Field, ID, InterfaceType } from 'type-graphql';

@InterfaceType({
  description: 'An object with a globally unique, opaque id that `node(id:)` fetches again.',
  resolveType: (value: { __typename?: string }) => value.__typename,
})
export abstract class Node {
  @Field(() => ID, { description: 'Opaque global id; pass it to `node`, `customer` or `product`.' })
  id!: string;
}
