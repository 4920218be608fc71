import DataLoader from 'dataloader';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import { findCustomersByIds, findFavoriteProductIds, type CustomerRecord } from './customer.repository.js';

/** Loaders live for one request, so their caches never serve one caller's figures to another. */
export function createCustomerLoaders(db: Kysely<Database>) {
  const customerById = new DataLoader<string, CustomerRecord | null>(async (ids) => {
    const rows = await findCustomersByIds(db, ids);
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => byId.get(id) ?? null);
  });

  const favoriteProductIdByCustomerId = new DataLoader<string, string | null>(async (ids) => {
    const rows = await findFavoriteProductIds(db, ids);
    const byId = new Map(rows.map((row) => [row.customerId, row.productId]));
    return ids.map((id) => byId.get(id) ?? null);
  });

  return { customerById, favoriteProductIdByCustomerId };
}

export type CustomerLoaders = ReturnType<typeof createCustomerLoaders>;

// Every request's context carries these loaders (src/graphql/context.ts).
declare module '../../graphql/context.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- adds the loaders to the shared interface
  interface Loaders extends CustomerLoaders {}
}
