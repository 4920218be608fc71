import type { Principal } from '../auth/principal.js';
import type { AuditWriter } from '../audit/audit-writer.js';
import type { LiveResult } from './live-subscription.js';

/** Who follows one subscription, as the audit trail names them. */
export interface AuditedSubscriber {
  principal: Principal;
  /** The client address of the socket's upgrade request. */
  clientIp: string | null;
  /** `<request id of the upgrade request>#<subscription id>`: the socket and the subscription on it. */
  requestId: string;
  operationName: string | null;
}

/**
 * The audit trail of one subscription, the WebSocket counterpart of audit.plugin.ts: an entry each time a result
 * that read customer-level data is handed to its socket, the first result as much as every push. The live query
 * gathered the customers once, when it computed the result; every subscriber the result reaches gets an entry of
 * its own, since each of them saw those customers. Results never sent (unchanged, or replaced before a slow
 * subscriber read them) never reach this, so they record nothing.
 */
export function auditDeliveries(
  writer: Pick<AuditWriter, 'record'>,
  subscriber: AuditedSubscriber,
): (delivered: LiveResult) => void {
  return (delivered) => {
    if (!delivered.customerIds) return;
    writer.record({
      occurredAt: new Date(),
      requestId: subscriber.requestId,
      principal: subscriber.principal.id,
      role: subscriber.principal.role,
      clientIp: subscriber.clientIp,
      operationName: subscriber.operationName,
      customerIds: [...delivered.customerIds],
    });
  };
}
