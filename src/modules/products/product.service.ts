// What other rooms read of products: the row a product is made from, which the dashboard's top-products
// statement reads with its ranking (to prime the request's product loader). Other modules import this, never
// product.repository.ts.
export type { ProductRecord } from './product.repository.js';
