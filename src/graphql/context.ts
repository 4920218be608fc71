import type { Kysely } from 'kysely';
import { ANONYMOUS, type Principal } from '../auth/principal.js';
import type { Database } from '../db/database.js';
import { CustomerAccess } from '../audit/customer-access.js';
import { createCustomerLoaders } from '../modules/customers/customer.loaders.js';
import { createProductLoaders } from '../modules/products/product.loaders.js';
import type { CursorCodec } from './cursor.js';

export interface GraphQLContext {
  db: Kysely<Database>;
  cursors: CursorCodec;
  loaders: ReturnType<typeof createLoaders>;
  /** Who is asking (ANONYMOUS, reading everything, with AUTH_MODE=none). */
  principal: Principal;
  /** The request id (from `x-request-id`, or made by the server), for the audit trail. */
  requestId: string;
  /** The client's address as the server sees it (`TRUST_PROXY` decides whether X-Forwarded-For counts). */
  clientIp: string | null;
  /** Which customers this request read, for the audit trail (and to keep such answers out of the cache). */
  customerAccess: CustomerAccess;
  /** Set by fields whose answers must always be read afresh (the audit trail): the answer is never cached. */
  neverCache: boolean;
  /** Charges the caller's rate budget; throws RATE_LIMITED past it. A no-op without rate limiting. */
  chargeCost(points: number): Promise<void>;
}

/** Where a request came from; the HTTP layer knows, resolvers do not. */
export interface RequestOrigin {
  requestId: string;
  clientIp: string | null;
  chargeCost?: (points: number) => Promise<void>;
}

function createLoaders(db: Kysely<Database>) {
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
  private madeLoaders: ReturnType<typeof createLoaders> | undefined = undefined;

  constructor(
    readonly db: Kysely<Database>,
    readonly cursors: CursorCodec,
    readonly principal: Principal,
    readonly requestId: string,
    readonly clientIp: string | null,
    readonly chargeCost: (points: number) => Promise<void>,
  ) {}

  get loaders(): ReturnType<typeof createLoaders> {
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
  return new RequestContext(db, cursors, principal, origin.requestId, origin.clientIp, origin.chargeCost ?? free);
}
