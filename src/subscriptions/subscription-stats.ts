/**
 * The live side of one gateway in numbers. Plain fields rather than a metrics library, so that tests read them
 * directly and a metrics endpoint can expose them as gauges (the first three) and counters (the rest).
 */
export class SubscriptionStats {
  /** WebSockets open on /graphql, initialised or not. */
  openSockets = 0;
  /** Subscriptions being served or set up, over all sockets: the places the caps count. */
  activeSubscriptions = 0;
  /** Distinct live queries (same operation, variables and role): each is computed once per change. */
  liveQueries = 0;
  /** Executions of a live query: its first result and every recomputation after a change. */
  recomputations = 0;
  /** Results sent to a subscriber (the first result included). */
  pushes = 0;
  /** Recomputations whose result equalled the last one, so nothing was sent. */
  unchanged = 0;
  /** Subscriptions refused: limits, roles, bad arguments, caps, budgets. */
  refused = 0;

  snapshot(): Readonly<Omit<SubscriptionStats, 'snapshot'>> {
    const { openSockets, activeSubscriptions, liveQueries, recomputations, pushes, unchanged, refused } = this;
    return { openSockets, activeSubscriptions, liveQueries, recomputations, pushes, unchanged, refused };
  }
}
