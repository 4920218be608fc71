import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { createCustomerLoaders } from '../modules/customers/customer.loaders.js';
import { createProductLoaders } from '../modules/products/product.loaders.js';
import type { CursorCodec } from '../modules/shared/cursor.js';

export interface GraphQLContext {
  db: Kysely<Database>;
  cursors: CursorCodec;
  loaders: ReturnType<typeof createLoaders>;
}

function createLoaders(db: Kysely<Database>) {
  return { ...createCustomerLoaders(db), ...createProductLoaders(db) };
}

/**
 * A new context, and so new DataLoaders, for every request. The loaders are made on first use: a request
 * answered from the response cache never resolves a field, and should not pay for them.
 */
export function createContext(db: Kysely<Database>, cursors: CursorCodec): GraphQLContext {
  let loaders: ReturnType<typeof createLoaders> | undefined;
  return {
    db,
    cursors,
    get loaders() {
      loaders ??= createLoaders(db);
      return loaders;
    },
  };
}
