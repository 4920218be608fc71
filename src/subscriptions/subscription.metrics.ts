import { Counter, Gauge } from 'prom-client';
import type { SubscriptionStats } from './subscription-stats.js';
import { metricsRegistry } from '../observability/metrics.js';

// The live side's numbers (SubscriptionStats, plain fields the subscription server keeps) read into the
// Prometheus registry at scrape time, so the hot path of a push never touches a metrics library.

const sources = new Set<SubscriptionStats>();

/** Reports a gateway's subscription numbers in /metrics until the returned function is called. */
export function observeSubscriptions(stats: SubscriptionStats): () => void {
  sources.add(stats);
  return () => void sources.delete(stats);
}

function sum(
  field: 'openSockets' | 'activeSubscriptions' | 'liveQueries' | 'recomputations' | 'pushes' | 'unchanged' | 'refused',
): number {
  let total = 0;
  for (const stats of sources) total += stats[field];
  return total;
}

const gauge = (name: string, help: string, field: Parameters<typeof sum>[0]) =>
  new Gauge({
    name,
    help,
    registers: [metricsRegistry],
    collect() {
      this.set(sum(field));
    },
  });

/** A counter that follows a monotonically growing field; a gateway that closes takes its share with it. */
const counter = (name: string, help: string, field: Parameters<typeof sum>[0]) => {
  let last = 0;
  return new Counter({
    name,
    help,
    registers: [metricsRegistry],
    collect() {
      const total = sum(field);
      if (total > last) this.inc(total - last);
      last = total;
    },
  });
};

gauge('marketpulse_subscription_sockets_open', 'WebSockets open on /graphql, initialised or not', 'openSockets');
gauge(
  'marketpulse_subscriptions_active',
  'Subscriptions served or being set up, over all sockets (the places the caps count)',
  'activeSubscriptions',
);
gauge(
  'marketpulse_live_queries',
  'Distinct live queries (operation, variables, role), each computed once per change',
  'liveQueries',
);
counter(
  'marketpulse_live_query_computations_total',
  'Executions of live queries: first results and recomputations after changes',
  'recomputations',
);
counter('marketpulse_subscription_pushes_total', 'Results sent to subscribers, first results included', 'pushes');
counter(
  'marketpulse_live_query_unchanged_total',
  'Recomputations whose result equalled the last one, so nothing was sent',
  'unchanged',
);
counter(
  'marketpulse_subscriptions_refused_total',
  'Subscriptions refused: limits, roles, bad arguments, caps, budgets',
  'refused',
);
