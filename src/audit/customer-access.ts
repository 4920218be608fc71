import type { MiddlewareFn } from 'type-graphql';
import type { GraphQLContext } from '../graphql/context.js';
import { Customer } from '../modules/customers/customer.type.js';

/**
 * What one request read of customer-level data: whether it read any, and which customers its answer held.
 * Filled by the RecordCustomerAccess middleware on the fields that hand out customers; read once the
 * response is ready, to write the audit trail and to keep the answer out of the shared cache.
 */
export class CustomerAccess {
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

/**
 * On a field that hands out customers. Runs after the role check, so a refused field records nothing.
 * `readsEvenWhenEmpty`: asking the field is a customer-level read even when no customer comes back
 * (an empty page, an unknown id); `node` only counts when it returns a customer.
 */
export function RecordCustomerAccess(readsEvenWhenEmpty = true): MiddlewareFn<GraphQLContext> {
  return async ({ context }, next) => {
    const result: unknown = await next();
    context.customerAccess.record(result, readsEvenWhenEmpty);
    return result;
  };
}
