import { GraphQLError } from 'graphql';
import { ErrorCode } from '../errors/error-codes.js';

// Variables (and extensions) arrive as JSON, which a parser reads to any depth without trouble; much of what
// runs next (JSON.stringify for a cache key, a scalar's error message, logging) is recursive and throws
// RangeError a few thousand levels down. No argument of the schema nests more than a few levels, so anything
// deeper than this is refused before anything else sees it.

/** How deeply `variables` (and `extensions`) of a request may nest: the map itself is level 1. */
export const MAX_VARIABLES_DEPTH = 32;

/**
 * Whether `value` nests objects and arrays more than `max` levels deep (a scalar is 0 levels, `{}` and `[]`
 * are 1). A loop over an explicit stack, so that no input makes the check itself overflow; it stops at the
 * first container past `max`, and otherwise visits each value once.
 */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth + 1 > max) return true;
    for (const inner of Array.isArray(current) ? current : Object.values(current)) {
      if (inner !== null && typeof inner === 'object') stack.push({ value: inner, depth: depth + 1 });
    }
  }
  return false;
}

/** BAD_USER_INPUT for variables or extensions nested past MAX_VARIABLES_DEPTH, naming which. */
export function tooDeeplyNested(what: 'variables' | 'extensions'): GraphQLError {
  return new GraphQLError(`The request's ${what} nest more than ${MAX_VARIABLES_DEPTH} levels deep`, {
    extensions: { code: ErrorCode.BAD_USER_INPUT, maxDepth: MAX_VARIABLES_DEPTH },
  });
}
