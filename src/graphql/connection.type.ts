import { Field, Int, ObjectType, registerEnumType, type ClassType } from 'type-graphql';

export enum OrderDirection {
  ASC = 'asc',
  DESC = 'desc',
}
registerEnumType(OrderDirection, {
  name: 'OrderDirection',
  description: 'Sort direction. Ties are always broken by id ascending, and missing values (nulls) always sort last.',
  valuesConfig: { ASC: { description: 'Smallest first.' }, DESC: { description: 'Largest first.' } },
});

@ObjectType({
  description: 'Relay page information: whether more edges exist on either side, and the cursors at both ends.',
})
export class PageInfo {
  @Field(() => Boolean, {
    description: 'True when edges follow this page; continue with `first` and `after: endCursor`.',
  })
  hasNextPage!: boolean;

  @Field(() => Boolean, {
    description: 'True when edges precede this page; continue with `last` and `before: startCursor`.',
  })
  hasPreviousPage!: boolean;

  @Field(() => String, { nullable: true, description: 'Cursor of the first edge, null on an empty page.' })
  startCursor!: string | null;

  @Field(() => String, { nullable: true, description: 'Cursor of the last edge, null on an empty page.' })
  endCursor!: string | null;
}

export interface ConnectionShape<Node> {
  edges: { cursor: string; node: Node }[];
  pageInfo: PageInfo;
  totalCount: number;
}

/** Builds the `<Name>Edge` and `<Name>Connection` types of a Relay connection over `nodeType`. */
export function connectionTypes<Node extends object>(name: string, nodeType: ClassType<Node>, plural: string) {
  @ObjectType(`${name}Edge`, { description: `One ${name.toLowerCase()} of a page, with the cursor that points at it.` })
  class Edge {
    @Field(() => String, { description: 'Opaque cursor of this edge, for `after` or `before`.' })
    cursor!: string;

    @Field(() => nodeType)
    node!: Node;
  }

  @ObjectType(`${name}Connection`, { description: `A page of ${plural} (Relay cursor connection).` })
  class Connection implements ConnectionShape<Node> {
    @Field(() => [Edge])
    edges!: Edge[];

    @Field(() => PageInfo)
    pageInfo!: PageInfo;

    @Field(() => Int, { description: `How many ${plural} match the filter, over all pages.` })
    totalCount!: number;
  }

  return { Edge, Connection };
}
