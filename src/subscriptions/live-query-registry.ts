import { createHash } from 'node:crypto';
import type { ExecutionResult, GraphQLError } from 'graphql';
import { LiveSubscription, type LiveResult, type PushAdmission } from './live-subscription.js';
import type { SubscriptionStats } from './subscription-stats.js';
import { internalError } from '../graphql/errors.js';
import type { Logger } from '../observability/logger.js';

export type LiveQueryLogger = Pick<Logger, 'warn'>;

export interface LiveQueryRegistryOptions {
  /** Quiet time after the last change before live queries are recomputed: a burst of writes gives one update. */
  debounceMs: number;
  /** Longest a change waits for its recomputation while writes keep coming (the debounce would never end). */
  maxWaitMs: number;
  stats: SubscriptionStats;
  logger: LiveQueryLogger;
}

/** One distinct live query: its key (operation, variables, role) and how to compute its result afresh. */
export interface LiveQuerySpec {
  key: string;
  execute(): Promise<LiveResult>;
}

export type JoinResult = { subscription: LiveSubscription } | { errors: readonly GraphQLError[] };

/** Live queries recomputed at the same time; the rest of the pool stays free for requests. */
const CONCURRENCY = 4;

/**
 * The live queries of one gateway. Subscribers asking the same thing (same document, variables and role)
 * share one live query: after the data changes, each live query is executed once, whatever its number of
 * subscribers, and its result goes to all of them, only if it differs from the last result they were sent.
 *
 * Changes are debounced for the whole instance: every live query is recomputed once `debounceMs` have passed
 * without a change, or `maxWaitMs` after the first change of a burst that does not stop.
 */
export class LiveQueryRegistry {
  private readonly queries = new Map<string, LiveQuery>();
  private timer: NodeJS.Timeout | undefined;
  private firstChangeAt: number | undefined;
  private lastChangeAt = 0;
  private closed = false;

  constructor(private readonly options: LiveQueryRegistryOptions) {}

  get size(): number {
    return this.queries.size;
  }

  /**
   * Subscribes to the live query `spec.key`, computing its first result if nobody follows it yet. A first
   * result with errors (a field beyond the caller's role, a bad argument) refuses the subscription with them.
   * `onDelivered` runs each time a result (the first included) is handed to this subscriber's socket;
   * `admitPush`, when given, is asked before each later one (see LiveSubscription).
   */
  async join(
    spec: LiveQuerySpec,
    onDelivered?: (delivered: LiveResult) => void,
    admitPush?: PushAdmission,
  ): Promise<JoinResult> {
    let query = this.queries.get(spec.key);
    if (!query) {
      query = new LiveQuery(spec, this.options);
      this.queries.set(spec.key, query);
      this.options.stats.liveQueries = this.queries.size;
    }
    query.joining += 1;
    try {
      await query.ready();
    } finally {
      query.joining -= 1;
    }
    const last = query.last;
    if (!last || this.closed) {
      this.forgetIfUnused(query);
      // A failure of the first computation, or the registry closing under the subscriber.
      return { errors: query.failure ?? [internalError()] };
    }
    const subscription = new LiveSubscription((delivered) => {
      this.options.stats.pushes += 1;
      onDelivered?.(delivered);
    }, admitPush);
    query.subscribers.add(subscription);
    subscription.whenEnded(() => {
      query.subscribers.delete(subscription);
      this.forgetIfUnused(query);
    });
    subscription.deliver(last.delivered);
    return { subscription };
  }

  /** The data changed: recompute every live query once the changes settle. */
  changed(): void {
    if (this.closed || this.queries.size === 0) return;
    const now = performance.now();
    this.lastChangeAt = now;
    this.firstChangeAt ??= now;
    this.timer ??= setTimeout(() => this.tick(), this.options.debounceMs);
  }

  /** Ends every subscription and stops recomputing. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const query of [...this.queries.values()]) {
      for (const subscription of [...query.subscribers]) subscription.end();
    }
    this.queries.clear();
    this.options.stats.liveQueries = 0;
  }

  private tick(): void {
    this.timer = undefined;
    if (this.closed || this.firstChangeAt === undefined) return;
    const now = performance.now();
    const due = Math.min(this.lastChangeAt + this.options.debounceMs, this.firstChangeAt + this.options.maxWaitMs);
    if (due - now >= 1) {
      this.timer = setTimeout(() => this.tick(), due - now);
      return;
    }
    this.firstChangeAt = undefined;
    void this.recomputeAll();
  }

  private async recomputeAll(): Promise<void> {
    const queries = [...this.queries.values()];
    let next = 0;
    const worker = async () => {
      while (next < queries.length && !this.closed) {
        await queries[next++]!.refresh();
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, queries.length) }, worker));
  }

  private forgetIfUnused(query: LiveQuery): void {
    if (query.subscribers.size > 0 || query.joining > 0) return;
    if (this.queries.get(query.key) === query) this.queries.delete(query.key);
    this.options.stats.liveQueries = this.queries.size;
  }
}

function hashOf(result: ExecutionResult): string {
  // graphql-js builds `data` in selection order, so equal results serialize equally.
  return createHash('sha256').update(JSON.stringify(result)).digest('base64');
}

class LiveQuery {
  readonly key: string;
  readonly subscribers = new Set<LiveSubscription>();
  /** Subscribers waiting for the first result; the query is kept while there are any. */
  joining = 0;
  last: { delivered: LiveResult; hash: string } | undefined;
  /** Errors of the last attempt at a first result, which refuse the subscribers waiting for it. */
  failure: readonly GraphQLError[] | undefined;
  private running: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly spec: LiveQuerySpec,
    private readonly options: LiveQueryRegistryOptions,
  ) {
    this.key = spec.key;
  }

  /** Resolves once there is a first result, or the attempt at one failed (then `last` is unset). */
  async ready(): Promise<void> {
    if (this.last) return;
    // Joining while the first result is being computed waits for it; asking again would compute it twice.
    if (this.running) await this.running;
    else await this.refresh();
  }

  /** Computes the result afresh; a call while one runs makes it run once more when done, not twice more. */
  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.computeOnce();
        // A change during the first computation must not be lost to the subscribers still waiting for it.
      } while (this.again && (this.subscribers.size > 0 || this.joining > 0));
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async computeOnce(): Promise<void> {
    this.options.stats.recomputations += 1;
    let computed: LiveResult;
    try {
      computed = await this.spec.execute();
    } catch (error) {
      this.options.logger.warn({ err: error }, 'a live query failed');
      if (!this.last) this.failure = [internalError()];
      return;
    }
    const { result } = computed;
    if (result.errors && result.errors.length > 0) {
      if (!this.last) {
        this.failure = result.errors;
        return;
      }
      // Subscribers keep the figures they have rather than an error over them (the database may be down for
      // a moment); the next change recomputes the query again.
      this.options.logger.warn(
        { errors: result.errors.map((error) => error.message) },
        'a live query failed to recompute',
      );
      return;
    }
    const hash = hashOf(result);
    if (this.last?.hash === hash) {
      this.options.stats.unchanged += 1;
      return;
    }
    this.last = { delivered: computed, hash };
    this.failure = undefined;
    for (const subscriber of this.subscribers) subscriber.deliver(computed);
  }
}
