import { nonNegativeInt, positiveInt, type Parsed, type Variables } from './variables.js';

/** The WebSocket side: live queries, caps, keep-alive and the lives of sockets. */
export const subscriptionVariables = {
  SUBSCRIPTION_DEBOUNCE_MS: nonNegativeInt.default(250),
  SUBSCRIPTION_MAX_WAIT_MS: positiveInt.default(2_000),
  SUBSCRIPTIONS_MAX_PER_CONNECTION: positiveInt.default(10),
  SUBSCRIPTIONS_MAX_PER_INSTANCE: positiveInt.default(10_000),
  // Per gateway: one API key, JWT subject or (unauthenticated) client address cannot take every place.
  SUBSCRIPTIONS_MAX_PER_PRINCIPAL: positiveInt.default(100),
  // 0 turns the server's pings (and so the dead-socket check) off.
  SUBSCRIPTION_KEEPALIVE_MS: nonNegativeInt.default(12_000),
  SUBSCRIPTION_INIT_TIMEOUT_MS: positiveInt.default(3_000),
  // 0 keeps sockets without subscriptions open for ever.
  SUBSCRIPTION_IDLE_TIMEOUT_MS: nonNegativeInt.default(300_000),
  // 0: credentials are checked only when a socket initialises and when it subscribes.
  SUBSCRIPTION_REAUTH_INTERVAL_MS: nonNegativeInt.default(60_000),
} satisfies Variables;

export function subscriptionConfig(env: Parsed<typeof subscriptionVariables>) {
  return {
    /** Quiet time after the last change before live queries are recomputed. */
    debounceMs: env.SUBSCRIPTION_DEBOUNCE_MS,
    /** Longest a burst of changes may hold a recomputation back. */
    maxWaitMs: env.SUBSCRIPTION_MAX_WAIT_MS,
    maxPerConnection: env.SUBSCRIPTIONS_MAX_PER_CONNECTION,
    maxPerInstance: env.SUBSCRIPTIONS_MAX_PER_INSTANCE,
    maxPerPrincipal: env.SUBSCRIPTIONS_MAX_PER_PRINCIPAL,
    keepaliveMs: env.SUBSCRIPTION_KEEPALIVE_MS,
    initTimeoutMs: env.SUBSCRIPTION_INIT_TIMEOUT_MS,
    idleTimeoutMs: env.SUBSCRIPTION_IDLE_TIMEOUT_MS,
    reauthIntervalMs: env.SUBSCRIPTION_REAUTH_INTERVAL_MS,
  };
}

export type SubscriptionConfig = ReturnType<typeof subscriptionConfig>;
