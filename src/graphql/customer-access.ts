import type { MiddlewareFn } from 'type-graphql';

/**
 * What one request read of customer-level data: whether it read any, and which customers its answer held. The
 * audit trail keeps it (src/audit/customer-access.ts); resolvers only report what they hand out.
 */
export interface CustomerAccessRecord {
  readonly touched: boolean;
  readonly customerIds: string[];
  /** Notes the customers in a resolver's result: a Customer, a list of them, or a connection's edges. */
  record(value: unknown, readsEvenWhenEmpty: boolean): void;
}

/**
 * On a field that hands out customers. Runs after the role check, so a refused field records nothing.
 * `readsEvenWhenEmpty`: asking the field is a customer-level read even when no customer comes back
 * (an empty page, an unknown id); `node` only counts when it returns a customer.
 */
export function RecordCustomerAccess(
  readsEvenWhenEmpty = true,
): MiddlewareFn<{ customerAccess: CustomerAccessRecord }> {
  return async ({ context }, next) => {
    const result: unknown = await next();
    context.customerAccess.record(result, readsEvenWhenEmpty);
    return result;
  };
}
