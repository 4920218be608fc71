import type { Config } from '../config/config.js';

/** The path of GraphQL over HTTP and of the WebSocket side. */
export const GRAPHQL_PATH = '/graphql';
// What a 503 tells clients to wait, as the error formatter's answers do (unavailable-status.plugin.ts).
export const RETRY_AFTER_SECONDS = 5;

/** The concerns a gateway is configured by: all but Redis, which reaches it as connected clients and stores. */
export type GatewayConfig = Pick<
  Config,
  'server' | 'database' | 'cache' | 'auth' | 'limits' | 'audit' | 'subscriptions'
>;
