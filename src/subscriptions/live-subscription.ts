import type { ExecutionResult } from 'graphql';

/** One computed result of a live query, with what computing it read, shared by every subscriber it goes to. */
export interface LiveResult {
  result: ExecutionResult;
  /**
   * The customers the result holds, when computing it read customer-level data (undefined when it read none):
   * gathered once per execution, and recorded in the audit trail for each subscriber the result is handed to.
   */
  customerIds?: readonly string[];
}

/**
 * What one subscriber receives: an async iterator of results that graphql-ws drains into its socket. It holds
 * at most one undelivered result, the latest: a subscriber that reads slowly skips intermediate figures
 * rather than queueing them, since only the newest dashboard matters.
 */
export class LiveSubscription implements AsyncIterableIterator<ExecutionResult> {
  private pending: LiveResult | undefined;
  private waiting: ((result: IteratorResult<ExecutionResult, undefined>) => void) | undefined;
  private ended = false;
  private readonly endListeners: (() => void)[] = [];

  /**
   * `onDelivered` runs when a result is handed to the socket, not when it is offered: a result replaced before
   * the subscriber read it was never sent, and must not count (nor be audited) as sent.
   */
  constructor(private readonly onDelivered: (delivered: LiveResult) => void) {}

  /** Hands `delivered` to the subscriber, replacing one it has not read yet. */
  deliver(delivered: LiveResult): void {
    if (this.ended) return;
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = undefined;
      this.onDelivered(delivered);
      waiting({ value: delivered.result, done: false });
    } else {
      this.pending = delivered;
    }
  }

  /** Calls `listener` once, when the subscription ends for whatever reason. */
  whenEnded(listener: () => void): void {
    if (this.ended) listener();
    else this.endListeners.push(listener);
  }

  /** Ends the subscription: the socket closed, the client completed it, or the server stops. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.pending = undefined;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.({ value: undefined, done: true });
    for (const listener of this.endListeners.splice(0)) listener();
  }

  next(): Promise<IteratorResult<ExecutionResult, undefined>> {
    if (this.pending) {
      const delivered = this.pending;
      this.pending = undefined;
      this.onDelivered(delivered);
      return Promise.resolve({ value: delivered.result, done: false });
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  return(): Promise<IteratorResult<ExecutionResult, undefined>> {
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error: unknown): Promise<IteratorResult<ExecutionResult, undefined>> {
    this.end();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
