import { ArgsType, Field, Int } from 'type-graphql';
import { badInput } from './errors.js';
import { isKeysetPosition, type KeysetOrder, type KeysetPosition, type KeysetWindow } from '../db/keyset.js';
import { invalidCursor, type CursorCodec } from './cursor.js';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

@ArgsType()
export class ConnectionArgs {
  @Field(() => Int, {
    nullable: true,
    description: `Page forward: at most this many edges (0 to ${MAX_PAGE_SIZE}) after \`after\`. Default ${DEFAULT_PAGE_SIZE} when neither \`first\` nor \`last\` is given.`,
  })
  first?: number | null;

  @Field(() => String, {
    nullable: true,
    description: 'Cursor (an `endCursor` or edge `cursor`) to continue forward from.',
  })
  after?: string | null;

  @Field(() => Int, {
    nullable: true,
    description: `Page backward: at most this many edges (0 to ${MAX_PAGE_SIZE}) before \`before\`.`,
  })
  last?: number | null;

  @Field(() => String, {
    nullable: true,
    description: 'Cursor (a `startCursor` or edge `cursor`) to continue backward from.',
  })
  before?: string | null;
}

export interface PageRequest extends KeysetWindow {
  limit: number;
  /** Whether a cursor precedes this window (forward) or follows it (backward). */
  fromCursor: boolean;
}

function checkSize(argument: string, value: number) {
  if (value < 0 || value > MAX_PAGE_SIZE)
    throw badInput(argument, `must be between 0 and ${MAX_PAGE_SIZE}; got ${value}`);
}

/**
 * Validates the Relay arguments and decodes their cursors for an ordering/filter `scope`; a position that
 * cannot be one of `order`'s is refused like a tampered cursor.
 */
export function toPageRequest(
  args: ConnectionArgs,
  codec: CursorCodec,
  scope: string,
  order: KeysetOrder,
): PageRequest {
  const { first, after, last, before } = args;
  if (first != null && last != null)
    throw badInput('last', 'cannot be combined with "first"; page with first/after or last/before');
  if (last != null && after != null)
    throw badInput('after', 'pages forward and cannot be combined with "last"; use "before"');
  if (first != null && before != null)
    throw badInput('before', 'pages backward and cannot be combined with "first"; use "after"');
  if (first != null) checkSize('first', first);
  if (last != null) checkSize('last', last);
  const backward = last != null || (first == null && before != null);
  const decode = (argument: string, cursor: string | null | undefined): KeysetPosition | undefined => {
    if (cursor == null) return undefined;
    const position = codec.decode(argument, cursor, scope);
    if (!isKeysetPosition(order, position)) throw invalidCursor(argument);
    return position;
  };
  return {
    backward,
    limit: (backward ? last : first) ?? DEFAULT_PAGE_SIZE,
    after: decode('after', after),
    before: decode('before', before),
    fromCursor: backward ? before != null : after != null,
  };
}

export interface PageInfoShape {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}

/**
 * Turns `limit + 1` rows fetched in window order into edges in natural order. The extra row tells whether
 * more exist beyond the window; the side of the cursor is reported as having rows, since the cursor's own
 * row lies there.
 */
export function toConnectionPage<Row extends { sortKey: string | null; id: string }, Node>(
  rows: Row[],
  request: PageRequest,
  codec: CursorCodec,
  scope: string,
  toNode: (row: Row) => Node,
): { edges: { cursor: string; node: Node }[]; pageInfo: PageInfoShape } {
  const hasMore = rows.length > request.limit;
  const windowRows = rows.slice(0, request.limit);
  if (request.backward) windowRows.reverse();
  const edges = windowRows.map((row) => ({
    cursor: codec.encode(scope, { value: row.sortKey, id: row.id }),
    node: toNode(row),
  }));
  return {
    edges,
    pageInfo: {
      hasNextPage: request.backward ? request.fromCursor : hasMore,
      hasPreviousPage: request.backward ? hasMore : request.fromCursor,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}
