import type { ExecutionResult, GraphQLError } from 'graphql';

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
 * Asked before each push (every result after the first, which subscribing paid for) is handed to the socket:
 * undefined lets it through; an error ends the subscription with that error instead (the subscriber cannot
 * pay for it).
 */
export type PushAdmission = (delivered: LiveResult) => Promise<GraphQLError | undefined>;

type Waiter = {
  resolve: (result: IteratorResult<ExecutionResult, undefined>) => void;
  reject: (error: unknown) => void;
};

const DONE: IteratorResult<ExecutionResult, undefined> = { value: undefined, done: true };

/**
 * What one subscriber receives: an async iterator of results that graphql-ws drains into its socket. It holds
 * at most one undelivered result, the latest: a subscriber that reads slowly skips intermediate figures
 * rather than queueing them, since only the newest dashboard matters.
 */
export class LiveSubscription implements AsyncIterableIterator<ExecutionResult> {
  private pending: LiveResult | undefined;
  private waiting: Waiter | undefined;
  private ended = false;
  private handedOver = 0;
  private readonly endListeners: (() => void)[] = [];

  /**
   * `onDelivered` runs when a result is handed to the socket, not when it is offered: a result replaced before
   * the subscriber read it was never sent, and must not count (nor be audited, nor charged) as sent.
   */
  constructor(
    private readonly onDelivered: (delivered: LiveResult) => void,
    private readonly admitPush?: PushAdmission,
  ) {}

  /** Hands `delivered` to the subscriber, replacing one it has not read yet. */
  deliver(delivered: LiveResult): void {
    if (this.ended) return;
    const waiting = this.waiting;
    if (!waiting) {
      this.pending = delivered;
      return;
    }
    this.waiting = undefined;
    this.handOver(delivered).then(waiting.resolve, waiting.reject);
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
    waiting?.resolve(DONE);
    for (const listener of this.endListeners.splice(0)) listener();
  }

  next(): Promise<IteratorResult<ExecutionResult, undefined>> {
    if (this.pending) {
      const delivered = this.pending;
      this.pending = undefined;
      return this.handOver(delivered);
    }
    if (this.ended) return Promise.resolve(DONE);
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  return(): Promise<IteratorResult<ExecutionResult, undefined>> {
    this.end();
    return Promise.resolve(DONE);
  }

  throw(error: unknown): Promise<IteratorResult<ExecutionResult, undefined>> {
    this.end();
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the iterator hands back what it was given
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /**
   * The result as the socket receives it. A push waits for its admission first; refused, the subscription ends
   * and the read rejects with the refusal, which graphql-ws sends as this subscription's `error` message. Any
   * rejection ends the subscription first: graphql-ws drops an iterator whose read failed without calling
   * `return`, and what the subscription holds (its slot) is released by ending it.
   */
  private handOver(delivered: LiveResult): Promise<IteratorResult<ExecutionResult, undefined>> {
    const fail = (error: unknown) => {
      this.end();
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a refusal or a failure, passed on as it is
      return Promise.reject(error);
    };
    try {
      if (!this.admitPush || this.handedOver === 0) return Promise.resolve(this.send(delivered));
      return this.admitPush(delivered)
        .then((refusal) => {
          // Completed (or the socket closed) while the push was being admitted: nothing more is sent.
          if (this.ended) return DONE;
          if (refusal) throw refusal;
          return this.send(delivered);
        })
        .catch(fail);
    } catch (error) {
      return fail(error);
    }
  }

  private send(delivered: LiveResult): IteratorResult<ExecutionResult, undefined> {
    this.handedOver += 1;
    this.onDelivered(delivered);
    return { value: delivered.result, done: false };
  }
}
