import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { asInt, asIsoUtc } from '../db/sql-helpers.js';
import {
  keysetOrderBy,
  keysetValue,
  keysetWhere,
  type ColumnOf,
  type KeysetOrder,
  type KeysetWindow,
} from '../db/keyset.js';
import type { Role } from '../auth/principal.js';

/** One request that read customer-level data, as the gateway records it. */
export interface AuditEntry {
  occurredAt: Date;
  requestId: string;
  principal: string;
  role: Role;
  clientIp: string | null;
  operationName: string | null;
  /** Database ids of the customers the answer held, each once. */
  customerIds: string[];
}

export interface AuditRecord {
  id: string;
  occurredAt: string;
  requestId: string;
  principal: string;
  role: Role;
  clientIp: string | null;
  operationName: string | null;
  customerCount: number;
  customerIds: string[];
}

export interface AuditFilter {
  principal?: string;
  customerId?: string;
  /** Inclusive lower bound on occurred_at. */
  since?: string;
  /** Exclusive upper bound on occurred_at. */
  until?: string;
}

/** Newest first; entries of one instant in the order they were written. */
export const auditOrder: KeysetOrder<ColumnOf<'audit_log', false>> = {
  column: 'occurred_at',
  direction: 'desc',
  nullable: false,
  valueType: 'timestamptz',
  idColumn: 'id',
};

/** Writes a batch of entries in one statement. */
export async function insertAuditEntries(db: Kysely<Database>, entries: readonly AuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await db
    .insertInto('audit_log')
    .values(
      entries.map((entry) => ({
        occurred_at: entry.occurredAt,
        request_id: entry.requestId,
        principal: entry.principal,
        role: entry.role,
        client_ip: entry.clientIp,
        operation_name: entry.operationName,
        customer_count: entry.customerIds.length,
        customer_ids: entry.customerIds,
      })),
    )
    .execute();
}

// Bounds arrive as the text of an instant, which PostgreSQL reads at full precision (a Date would stop at ms).
const instant = (text: string) => sql<Date>`${text}::timestamptz`;

function filtered(db: Kysely<Database>, filter: AuditFilter) {
  return db
    .selectFrom('audit_log')
    .$if(filter.principal !== undefined, (qb) => qb.where('principal', '=', filter.principal!))
    .$if(filter.customerId !== undefined, (qb) =>
      qb.where('customer_ids', '@>', sql<string[]>`ARRAY[${filter.customerId!}::bigint]`),
    )
    .$if(filter.since !== undefined, (qb) => qb.where('occurred_at', '>=', instant(filter.since!)))
    .$if(filter.until !== undefined, (qb) => qb.where('occurred_at', '<', instant(filter.until!)));
}

export async function findAuditPage(
  db: Kysely<Database>,
  filter: AuditFilter,
  window: KeysetWindow & { limit: number },
): Promise<(AuditRecord & { sortKey: string | null })[]> {
  const where = keysetWhere(auditOrder, window);
  return filtered(db, filter)
    .select((eb) => [
      eb.cast<string>('id', 'text').as('id'),
      asIsoUtc(eb.ref('occurred_at')).as('occurredAt'),
      'request_id as requestId',
      'principal',
      'role',
      'client_ip as clientIp',
      'operation_name as operationName',
      'customer_count as customerCount',
      // Text, so ids never pass through a JavaScript number whichever driver reads them.
      eb.cast<string[]>('customer_ids', sql`text[]`).as('customerIds'),
      keysetValue(auditOrder).as('sortKey'),
    ])
    .$if(where !== undefined, (qb) => qb.where(where!))
    .orderBy(keysetOrderBy(auditOrder, window.backward))
    .limit(window.limit + 1)
    .execute();
}

export async function countAuditEntries(db: Kysely<Database>, filter: AuditFilter): Promise<number> {
  const row = await filtered(db, filter)
    .select((eb) => asInt(eb.fn.countAll()).as('count'))
    .executeTakeFirstOrThrow();
  return row.count;
}

/** Deletes the entries that occurred before `cutoff`; returns how many went. */
export async function deleteAuditEntriesBefore(db: Kysely<Database>, cutoff: Date): Promise<number> {
  const result = await db.deleteFrom('audit_log').where('occurred_at', '<', cutoff).executeTakeFirst();
  return Number(result.numDeletedRows);
}
