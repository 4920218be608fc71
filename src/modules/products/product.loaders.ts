import DataLoader from 'dataloader';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import { findProductsByIds, findTopCustomerIds, type ProductRecord } from './product.repository.js';

export interface TopCustomersKey {
  productId: string;
  limit: number;
}

/** Loaders live for one request, so their caches never serve one caller's figures to another. */
export function createProductLoaders(db: Kysely<Database>) {
  const productById = new DataLoader<string, ProductRecord | null>(async (ids) => {
    const rows = await findProductsByIds(db, ids);
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => byId.get(id) ?? null);
  });

  // One statement per distinct limit in the request (usually one), however many products are on the page.
  const topCustomerIdsByProductId = new DataLoader<TopCustomersKey, string[], string>(
    async (keys) => {
      const byLimit = new Map<number, string[]>();
      for (const key of keys) byLimit.set(key.limit, [...(byLimit.get(key.limit) ?? []), key.productId]);
      const results = new Map<string, string[]>();
      await Promise.all(
        [...byLimit].map(async ([limit, productIds]) => {
          for (const row of await findTopCustomerIds(db, productIds, limit)) {
            const key = `${row.productId}:${limit}`;
            results.set(key, [...(results.get(key) ?? []), row.customerId]);
          }
        }),
      );
      return keys.map((key) => results.get(`${key.productId}:${key.limit}`) ?? []);
    },
    { cacheKeyFn: (key) => `${key.productId}:${key.limit}` },
  );

  return { productById, topCustomerIdsByProductId };
}

export type ProductLoaders = ReturnType<typeof createProductLoaders>;

// Every request's context carries these loaders (src/graphql/context.ts).
declare module '../../graphql/context.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- adds the loaders to the shared interface
  interface Loaders extends ProductLoaders {}
}
