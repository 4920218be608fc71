import { GraphQLError } from 'graphql';
import { rateLimitedError, type RateBudget } from '../limits/rate-limit.js';
import type { PushAdmission } from './live-subscription.js';

/**
 * What sockets spend of the rate budget HTTP requests draw on. A subscription executes (or joins) a live query,
 * and every push sends a freshly computed result: both are charged, so that subscribing in a loop, or holding
 * subscriptions on data that keeps changing, spends budget as querying does. Without a budget nothing is charged.
 */
export function createSubscriptionCharges(budget: RateBudget | undefined) {
  /** RATE_LIMITED when `points` are past the principal's budget; undefined when they were paid. */
  const overBudget = async (principalKey: string, points: number): Promise<GraphQLError | undefined> => {
    if (!budget || points <= 0) return undefined;
    const state = await budget.charge(principalKey, points);
    return state.limited ? rateLimitedError(state) : undefined;
  };

  /** A push the subscriber's budget cannot pay for ends the subscription (the socket stays open). */
  const chargePushes = (principalKey: string, cost: number): PushAdmission | undefined => {
    if (!budget) return undefined;
    return async () => {
      const state = await budget.charge(principalKey, cost);
      if (!state.limited) return undefined;
      const spent = rateLimitedError(state);
      return new GraphQLError(
        `Rate limit reached: this client's query budget cannot pay for this subscription's next result, so the subscription has ended; subscribe again in ${String(spent.extensions.retryAfterSeconds)} s`,
        { extensions: spent.extensions },
      );
    };
  };

  return { overBudget, chargePushes };
}
