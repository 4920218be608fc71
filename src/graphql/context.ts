import type { Kysely } from 'kysely';
import { ANONYMOUS, type Principal } from '../auth/principal.js';
import type { Database } from '../db/database.js';
import { createCustomerLoaders } from '../modules/customers/customer.loaders.js';
import { createProductLoaders } from '../modules/products/product.loaders.js';
import type { CursorCodec } from '../modules/shared/cursor.js';

export interface GraphQLContext {
  db: Kysely<Database>;
  cursors: CursorCodec;
  loaders: ReturnType<typeof createLoaders>;
  /** Who is asking (ANONYMOUS, reading everything, with AUTH_MODE=none). */
  principal: Principal;
  /** Whose cached answers this request may share: `public` without authentication, else the role. */
  cacheScope: string;
}

function createLoaders(db: Kysely<Database>) {
  return { ...createCustomerLoaders(db), ...createProductLoaders(db) };
}

/**
 * A new context, and so new DataLoaders, for every request. The loaders are made on first use: a request
 * answered from the response cache never resolves a field, and should not pay for them.
 */
export function createContext(
  db: Kysely<Database>,
  cursors: CursorCodec,
  principal: Principal = ANONYMOUS,
): GraphQLContext {
  let loaders: ReturnType<typeof createLoaders> | undefined;
  return {
    db,
    cursors,
    principal,
    // Answers differ only by role (no field reads per-principal data), so callers of one role share them.
    cacheScope: principal === ANONYMOUS ? 'public' : `role:${principal.role}`,
    get loaders() {
      loaders ??= createLoaders(db);
      return loaders;
    },
  };
}
