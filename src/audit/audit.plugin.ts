import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLContext } from '../graphql/context.js';
import type { AuditWriter } from './audit-writer.js';

/**
 * Hands every request that read customer-level data to the audit writer once its answer is ready. Only
 * appends to the writer's buffer: the INSERT happens later, in a batch, off the request path.
 */
export function auditPlugin(writer: AuditWriter): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      const occurredAt = new Date();
      return {
        async willSendResponse({ contextValue, operationName }) {
          const access = contextValue.customerAccess;
          if (!access.touched) return;
          writer.record({
            occurredAt,
            requestId: contextValue.requestId,
            principal: contextValue.principal.id,
            role: contextValue.principal.role,
            clientIp: contextValue.clientIp,
            operationName: operationName ?? null,
            customerIds: access.customerIds,
          });
        },
      };
    },
  };
}
