import type { Kysely } from 'kysely';
import { ANONYMOUS, type Principal } from '../auth/principal.js';
import type { Database } from '../db/database.js';
import { CustomerAccess } from '../modules/audit/customer-access.js';
import { createCustomerLoaders } from '../modules/customers/customer.loaders.js';
import { createProductLoaders } from '../modules/products/product.loaders.js';
import type { CursorCodec } from '../modules/shared/cursor.js';

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
 * A new context, and so new DataLoaders, for every request. The loaders are made on first use: a request
 * answered from the response cache never resolves a field, and should not pay for them.
 */
export function createContext(
  db: Kysely<Database>,
  cursors: CursorCodec,
  principal: Principal = ANONYMOUS,
  origin: RequestOrigin = { requestId: 'internal', clientIp: null },
): GraphQLContext {
  let loaders: ReturnType<typeof createLoaders> | undefined;
  return {
    db,
    cursors,
    principal,
    requestId: origin.requestId,
    clientIp: origin.clientIp,
    customerAccess: new CustomerAccess(),
    neverCache: false,
    chargeCost: origin.chargeCost ?? (async () => {}),
    get loaders() {
      loaders ??= createLoaders(db);
      return loaders;
    },
  };
}
