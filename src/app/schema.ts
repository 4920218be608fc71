import 'reflect-metadata';
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { authChecker } from '../graphql/auth-checker.js';
import { AuditResolver } from '../audit/audit.resolver.js';
import { CustomerResolver } from '../modules/customers/customer.resolver.js';
import { DashboardComparisonResolver } from '../modules/dashboard/dashboard-comparison.resolver.js';
import { DashboardResolver, ProductRevenueResolver } from '../modules/dashboard/dashboard.resolver.js';
import { DashboardSubscriptionResolver } from '../modules/dashboard/dashboard.subscription.js';
import { ProductResolver } from '../modules/products/product.resolver.js';
import { RevenueResolver } from '../modules/revenue/revenue.resolver.js';
import { RevenueSubscriptionResolver } from '../modules/revenue/revenue.subscription.js';
import { Customer } from '../modules/customers/customer.type.js';
import { Product } from '../modules/products/product.type.js';
import { noPubSub } from '../graphql/served-by-live-queries.js';
import { NodeResolver } from '../modules/node/node.resolver.js';

let built: Promise<GraphQLSchema> | undefined;

/** The one schema of the gateway (type-graphql keeps its metadata globally, so it is built once). */
export function buildGatewaySchema(): Promise<GraphQLSchema> {
  built ??= buildSchema({
    resolvers: [
      DashboardResolver,
      DashboardComparisonResolver,
      ProductRevenueResolver,
      RevenueResolver,
      CustomerResolver,
      ProductResolver,
      NodeResolver,
      DashboardSubscriptionResolver,
      RevenueSubscriptionResolver,
      AuditResolver,
    ],
    orphanedTypes: [Customer, Product],
    validate: false,
    authChecker,
    pubSub: noPubSub,
    // Role checks throw FORBIDDEN themselves; nothing reaches type-graphql's own UNAUTHORIZED.
    authMode: 'error',
  });
  return built;
}

/** The SDL as committed in schema/schema.graphql: sorted, so that the file diffs cleanly. */
export function printGatewaySchema(schema: GraphQLSchema): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
