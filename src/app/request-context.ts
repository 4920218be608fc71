import type { Kysely } from 'kysely';
import { CustomerAccess } from '../audit/customer-access.js';
import { ANONYMOUS, type Principal } from '../auth/principal.js';
import type { Database } from '../db/database.js';
import type { GraphQLContext, Loaders, RequestOrigin } from '../graphql/context.js';
import type { CursorCodec } from '../graphql/cursor.js';
import { createCustomerLoaders } from '../modules/customers/customer.loaders.js';
import { createProductLoaders } from '../modules/products/product.loaders.js';

function createLoaders(db: Kysely<Database>): Loaders {
  return { ...createCustomerLoaders(db), ...createProductLoaders(db) };
}

/**
 * A request's context. Apollo copies the context of every request it runs, with
 * `Object.assign(Object.create(Object.getPrototypeOf(context)), context)`: a getter of the object itself would be
 * called by that copy, so the one making the loaders on first use lives on the prototype, which the copy keeps.
 */
class RequestContext implements GraphQLContext {
  customerAccess = new CustomerAccess();
  neverCache = false;
  private madeLoaders: Loaders | undefined = undefined;

  constructor(
    readonly db: Kysely<Database>,
    readonly primary: Kysely<Database>,
    readonly cursors: CursorCodec,
    readonly principal: Principal,
    readonly requestId: string,
    readonly clientIp: string | null,
    readonly chargeCost: (points: number) => Promise<void>,
  ) {}

  get loaders(): Loaders {
    this.madeLoaders ??= createLoaders(this.db);
    return this.madeLoaders;
  }
}

const free = async () => {};

/**
 * A new context, and so new DataLoaders, for every request. The loaders are made on first use: a request
 * answered from the response cache, or one that reads nothing through them, should not pay for them.
 */
export function createContext(
  db: Kysely<Database>,
  cursors: CursorCodec,
  principal: Principal = ANONYMOUS,
  origin: RequestOrigin = { requestId: 'internal', clientIp: null },
): GraphQLContext {
  return new RequestContext(
    db,
    origin.primary ?? db,
    cursors,
    principal,
    origin.requestId,
    origin.clientIp,
    origin.chargeCost ?? free,
  );
}
