import type { CustomerAccessRecord } from '../graphql/customer-access.js';
import { Customer } from '../modules/customers/customer.type.js';

/**
 * What one request read of customer-level data: whether it read any, and which customers its answer held.
 * Filled by the RecordCustomerAccess middleware on the fields that hand out customers; read once the
 * response is ready, to write the audit trail and to keep the answer out of the shared cache.
 */
export class CustomerAccess implements CustomerAccessRecord {
  private readonly ids = new Set<string>();
  private read = false;

  get touched(): boolean {
    return this.read;
  }

  get customerIds(): string[] {
    return [...this.ids];
  }

  /** Notes the customers in a resolver's result: a Customer, a list of them, or a connection's edges. */
  record(value: unknown, readsEvenWhenEmpty: boolean): void {
    if (readsEvenWhenEmpty) this.read = true;
    this.collect(value);
  }

  private collect(value: unknown): void {
    if (value instanceof Customer) {
      this.read = true;
      this.ids.add(value.dbId);
    } else if (Array.isArray(value)) {
      for (const item of value) this.collect(item);
    } else if (value !== null && typeof value === 'object' && 'edges' in value && Array.isArray(value.edges)) {
      for (const edge of value.edges as { node?: unknown }[]) this.collect(edge.node);
    }
  }
}
