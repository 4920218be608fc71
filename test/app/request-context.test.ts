import { describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { createContext } from '../../src/app/request-context.js';
import type { Database } from '../../src/db/database.js';
import { CursorCodec } from '../../src/graphql/cursor.js';

// Apollo runs every request with a copy of the context the server made for it, made the way this copies it
// (ApolloServer's cloneObject). Loaders are made on first use, so that a request resolving nothing through
// them does not pay for them: the copy must not make them.
const copyAsApolloDoes = <T extends object>(context: T): T =>
  Object.assign(Object.create(Object.getPrototypeOf(context) as object) as T, context);

describe('the request context', () => {
  const db = {} as Kysely<Database>;
  const cursors = new CursorCodec('test-cursor-secret-0123456789');

  it('makes its loaders on first use, not when Apollo copies it', () => {
    const copy = copyAsApolloDoes(createContext(db, cursors));
    expect(Object.getOwnPropertyNames(copy)).not.toContain('loaders');
    const loaders = copy.loaders;
    expect(loaders.productById).toBeDefined();
    expect(copy.loaders).toBe(loaders);
  });

  it('gives every request loaders of its own', () => {
    const first = copyAsApolloDoes(createContext(db, cursors));
    const second = copyAsApolloDoes(createContext(db, cursors));
    expect(first.loaders.productById).not.toBe(second.loaders.productById);
  });
});
