import type { ExecutionResult } from 'graphql';

/**
 * What one subscriber receives: an async iterator of results that graphql-ws drains into its socket. It holds
 * at most one undelivered result, the latest: a subscriber that reads slowly skips intermediate figures
 * rather than queueing them, since only the newest dashboard matters.
 */
export class LiveSubscription implements AsyncIterableIterator<ExecutionResult> {
  private pending: ExecutionResult | undefined;
  private waiting: ((result: IteratorResult<ExecutionResult, undefined>) => void) | undefined;
  private ended = false;
  private readonly endListeners: (() => void)[] = [];

  constructor(private readonly onDelivered: () => void) {}

  get done(): boolean {
    return this.ended;
  }

  /** Hands `result` to the subscriber, replacing one it has not read yet. */
  deliver(result: ExecutionResult): void {
    if (this.ended) return;
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = undefined;
      this.onDelivered();
      waiting({ value: result, done: false });
    } else {
      this.pending = result;
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
      const value = this.pending;
      this.pending = undefined;
      this.onDelivered();
      return Promise.resolve({ value, done: false });
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
