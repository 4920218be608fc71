import { sql } from 'kysely';
import type { DatabaseHandle } from '../../src/db/database-handle.js';

// Shared by the audit tests of queries and of subscriptions: the trail as plain SQL reads it.

export interface AuditRow {
  request_id: string;
  principal: string;
  role: string;
  client_ip: string | null;
  operation_name: string | null;
  customer_count: number;
  customer_ids: string[];
}

/** Every audit entry in the order it was written, customer ids as text. */
export async function readAuditRows(database: DatabaseHandle): Promise<AuditRow[]> {
  const { rows } = await sql<AuditRow>`
    SELECT request_id, principal, role, client_ip, operation_name, customer_count, customer_ids::text[] AS customer_ids
    FROM audit_log ORDER BY id`.execute(database.db);
  return rows;
}

export async function clearAuditTrail(database: DatabaseHandle): Promise<void> {
  await sql`TRUNCATE audit_log`.execute(database.db);
}
