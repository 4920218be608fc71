import type { Kysely } from 'kysely';
import type { Principal } from '../auth/principal.js';
import type { Database } from '../db/database.js';
import type { CustomerAccessRecord } from './customer-access.js';
import type { CursorCodec } from './cursor.js';

/**
 * The DataLoaders of one request. Empty here: each module adds its own loaders to it (`declare module` in
 * `<entity>.loaders.ts`), as Fastify's plugins add to FastifyRequest, so that this shared room knows no module;
 * the request-context factory (src/app/request-context.ts) makes them.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by declaration merging
export interface Loaders {}

export interface GraphQLContext {
  /** Report reads: a read replica that has replayed the data version the answer is stamped with, or the primary. */
  db: Kysely<Database>;
  /** The primary: what must be read where it is written (the audit trail). `db` itself without read replicas. */
  primary: Kysely<Database>;
  cursors: CursorCodec;
  loaders: Loaders;
  /** Who is asking (ANONYMOUS, reading everything, with AUTH_MODE=none). */
  principal: Principal;
  /** The request id (from `x-request-id`, or made by the server), for the audit trail. */
  requestId: string;
  /** The client's address as the server sees it (`TRUST_PROXY` decides whether X-Forwarded-For counts). */
  clientIp: string | null;
  /** Which customers this request read, for the audit trail (and to keep such answers out of the cache). */
  customerAccess: CustomerAccessRecord;
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
  /** The primary, when `db` reads from replicas. */
  primary?: Kysely<Database>;
}
