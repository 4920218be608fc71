import { GraphQLError, type ExecutionResult } from 'graphql';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LiveQueryRegistry, type LiveQuerySpec } from '../../src/subscriptions/live-query-registry.js';
import type { LiveResult, LiveSubscription } from '../../src/subscriptions/live-subscription.js';
import { SubscriptionStats } from '../../src/subscriptions/subscription-stats.js';

// The registry on its own, with fake timers: when it recomputes, and what it sends to whom.

const silent = { warn() {} };

function registry(stats = new SubscriptionStats()) {
  return { stats, registry: new LiveQueryRegistry({ debounceMs: 250, maxWaitMs: 2_000, stats, logger: silent }) };
}

/**
 * A live query whose result is whatever `value` holds when it runs, having read the customers `customerIds`
 * holds (none when undefined); `runs` counts its executions.
 */
function source(key = 'k') {
  const state: { value: number; runs: number; delayMs: number; customerIds?: string[] } = {
    value: 1,
    runs: 0,
    delayMs: 0,
  };
  const spec: LiveQuerySpec = {
    key,
    async execute(): Promise<LiveResult> {
      state.runs += 1;
      if (state.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, state.delayMs));
      return {
        result: { data: { value: state.value } },
        ...(state.customerIds ? { customerIds: state.customerIds } : {}),
      };
    },
  };
  return { state, spec };
}

async function join(
  live: LiveQueryRegistry,
  spec: LiveQuerySpec,
  onDelivered?: (delivered: LiveResult) => void,
): Promise<LiveSubscription> {
  const joined = await live.join(spec, onDelivered);
  if ('errors' in joined) throw new Error(`refused: ${joined.errors.map((error) => error.message).join()}`);
  return joined.subscription;
}

const outstanding = new WeakMap<LiveSubscription, Promise<IteratorResult<ExecutionResult, undefined>>>();

/** Everything the subscription has to give right now (a read still waiting is kept for the next call). */
async function drain(subscription: LiveSubscription): Promise<unknown[]> {
  const values: unknown[] = [];
  for (;;) {
    const next = outstanding.get(subscription) ?? subscription.next();
    outstanding.set(subscription, next);
    const got = await Promise.race([next, new Promise<'none'>((resolve) => queueMicrotask(() => resolve('none')))]);
    if (got === 'none') return values;
    outstanding.delete(subscription);
    if (got.done) return values;
    values.push(got.value.data);
  }
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
});

afterEach(() => {
  vi.useRealTimers();
});

describe('LiveQueryRegistry', () => {
  it('computes a live query once for all its subscribers, and sends each the first result', async () => {
    const { registry: live, stats } = registry();
    const { state, spec } = source();
    const subscribers = await Promise.all(Array.from({ length: 50 }, () => join(live, spec)));
    expect(state.runs).toBe(1);
    expect(stats.liveQueries).toBe(1);
    for (const subscriber of subscribers) expect(await drain(subscriber)).toEqual([{ value: 1 }]);
  });

  it('recomputes once for a burst of changes closer together than the debounce', async () => {
    const { registry: live } = registry();
    const { state, spec } = source();
    const subscriber = await join(live, spec);
    await drain(subscriber);
    for (let i = 0; i < 20; i++) {
      state.value += 1;
      live.changed();
      await vi.advanceTimersByTimeAsync(50);
    }
    expect(state.runs).toBe(1);
    await vi.advanceTimersByTimeAsync(250);
    expect(state.runs).toBe(2);
    expect(await drain(subscriber)).toEqual([{ value: 21 }]);
  });

  it('recomputes at the latest maxWaitMs after the first change of a burst that does not stop', async () => {
    const { registry: live } = registry();
    const { state, spec } = source();
    await join(live, spec);
    for (let i = 0; i < 30; i++) {
      live.changed();
      await vi.advanceTimersByTimeAsync(100);
    }
    // 3 s of changes every 100 ms: one recomputation at 2 s, then one once they stop.
    expect(state.runs).toBe(2);
    await vi.advanceTimersByTimeAsync(250);
    expect(state.runs).toBe(3);
  });

  it('sends nothing when the result did not change', async () => {
    const { registry: live, stats } = registry();
    const { state, spec } = source();
    const subscriber = await join(live, spec);
    await drain(subscriber);
    live.changed();
    await vi.advanceTimersByTimeAsync(300);
    expect(state.runs).toBe(2);
    expect(stats.unchanged).toBe(1);
    expect(await drain(subscriber)).toEqual([]);
  });

  it('hands a subscriber that reads slowly only the newest result', async () => {
    const { registry: live, stats } = registry();
    const { state, spec } = source();
    const subscriber = await join(live, spec);
    for (let i = 0; i < 3; i++) {
      state.value += 1;
      live.changed();
      await vi.advanceTimersByTimeAsync(300);
    }
    expect(state.runs).toBe(4);
    expect(await drain(subscriber)).toEqual([{ value: 4 }]);
    expect(stats.pushes).toBe(1);
  });

  it('runs a live query once more, not once per change, when changes come while it runs', async () => {
    const { registry: live } = registry();
    const { state, spec } = source();
    await join(live, spec);
    state.delayMs = 1_000;
    live.changed();
    await vi.advanceTimersByTimeAsync(300);
    expect(state.runs).toBe(2);
    for (let i = 0; i < 3; i++) {
      live.changed();
      await vi.advanceTimersByTimeAsync(300);
    }
    await vi.advanceTimersByTimeAsync(5_000);
    expect(state.runs).toBe(3);
  });

  it('does not lose a change made while the first result is being computed', async () => {
    const { registry: live } = registry();
    const { state, spec } = source();
    state.delayMs = 1_000;
    const joining = join(live, spec);
    await vi.advanceTimersByTimeAsync(100);
    state.value = 2;
    live.changed();
    await vi.advanceTimersByTimeAsync(3_000);
    const subscriber = await joining;
    expect(state.runs).toBe(2);
    expect(await drain(subscriber)).toEqual([{ value: 2 }]);
  });

  it('refuses a subscription whose first result has errors, and keeps no live query for it', async () => {
    const { registry: live, stats } = registry();
    const forbidden = new GraphQLError('This field needs the analyst role or higher', {
      extensions: { code: 'FORBIDDEN' },
    });
    const joined = await live.join({
      key: 'denied',
      execute: async () => ({ result: { data: { value: null }, errors: [forbidden] } }),
    });
    expect(joined).toEqual({ errors: [forbidden] });
    expect(stats.liveQueries).toBe(0);
    expect(live.size).toBe(0);
  });

  it('keeps the last figures when a recomputation fails, and forgets a live query its last subscriber leaves', async () => {
    const { registry: live, stats } = registry();
    let fail = false;
    const subscriber = await join(live, {
      key: 'flaky',
      execute: async () => ({
        result: fail ? { errors: [new GraphQLError('The database is unavailable')] } : { data: { value: 1 } },
      }),
    });
    await drain(subscriber);
    fail = true;
    live.changed();
    await vi.advanceTimersByTimeAsync(300);
    expect(await drain(subscriber)).toEqual([]);

    await subscriber.return();
    expect(stats.liveQueries).toBe(0);
    live.changed();
    await vi.advanceTimersByTimeAsync(300);
    expect(stats.recomputations).toBe(2);
  });

  it('hands each subscriber the customers of every result it is sent, gathered once per execution', async () => {
    const { registry: live } = registry();
    const { state, spec } = source();
    state.customerIds = ['1', '2'];
    const seen = { a: [] as (readonly string[] | undefined)[], b: [] as (readonly string[] | undefined)[] };
    const a = await join(live, spec, (delivered) => seen.a.push(delivered.customerIds));
    const b = await join(live, spec, (delivered) => seen.b.push(delivered.customerIds));
    // Offered is not sent: nothing is reported until the socket takes the result.
    expect(seen).toEqual({ a: [], b: [] });
    // `a` reads as fast as results come (a read is always waiting); `b` reads one result now and then.
    expect(await drain(a)).toEqual([{ value: 1 }]);
    expect((await b.next()).value?.data).toEqual({ value: 1 });
    expect(state.runs).toBe(1);
    expect(seen).toEqual({ a: [['1', '2']], b: [['1', '2']] });

    // An unchanged result is not sent, so it reports nothing.
    live.changed();
    await vi.advanceTimersByTimeAsync(300);
    expect(state.runs).toBe(2);
    expect(await drain(a)).toEqual([]);
    expect(seen).toEqual({ a: [['1', '2']], b: [['1', '2']] });

    // Two changed results: `a` is sent both; `b` is sent the newest alone, and reports only that one.
    state.value = 2;
    state.customerIds = ['3'];
    live.changed();
    await vi.advanceTimersByTimeAsync(300);
    state.value = 3;
    state.customerIds = ['4'];
    live.changed();
    await vi.advanceTimersByTimeAsync(300);
    expect(state.runs).toBe(4);
    expect(await drain(a)).toEqual([{ value: 2 }, { value: 3 }]);
    expect((await b.next()).value?.data).toEqual({ value: 3 });
    expect(seen).toEqual({ a: [['1', '2'], ['3'], ['4']], b: [['1', '2'], ['4']] });
  });

  it('asks before each push, not the first result, and ends the subscription with a refusal instead of sending it', async () => {
    const { registry: live, stats } = registry();
    const { state, spec } = source();
    const asked: unknown[] = [];
    let refuse = false;
    const admit = async (delivered: LiveResult) => {
      asked.push(delivered.result.data);
      return refuse ? new GraphQLError('over budget', { extensions: { code: 'RATE_LIMITED' } }) : undefined;
    };
    const joined = await live.join(spec, undefined, admit);
    if ('errors' in joined) throw new Error('refused');
    const subscriber = joined.subscription;
    let ended = false;
    subscriber.whenEnded(() => (ended = true));
    expect(await drain(subscriber)).toEqual([{ value: 1 }]);
    expect(asked).toEqual([]);

    state.value = 2;
    live.changed();
    await vi.advanceTimersByTimeAsync(300);
    expect(await drain(subscriber)).toEqual([{ value: 2 }]);
    expect(asked).toEqual([{ value: 2 }]);

    refuse = true;
    state.value = 3;
    live.changed();
    await vi.advanceTimersByTimeAsync(300);
    await expect(outstanding.get(subscriber)).rejects.toMatchObject({
      message: 'over budget',
      extensions: { code: 'RATE_LIMITED' },
    });
    expect(asked).toEqual([{ value: 2 }, { value: 3 }]);
    expect(ended).toBe(true);
    expect(stats.pushes).toBe(2);
    expect(stats.liveQueries).toBe(0);
  });

  it('ends a subscription whose push could not be admitted at all', async () => {
    const { registry: live } = registry();
    const { state, spec } = source();
    const joined = await live.join(spec, undefined, async () => {
      throw new Error('the budget store failed');
    });
    if ('errors' in joined) throw new Error('refused');
    let ended = false;
    joined.subscription.whenEnded(() => (ended = true));
    expect(await drain(joined.subscription)).toEqual([{ value: 1 }]);
    state.value = 2;
    live.changed();
    await vi.advanceTimersByTimeAsync(300);
    await expect(outstanding.get(joined.subscription)).rejects.toThrow('the budget store failed');
    expect(ended).toBe(true);
  });

  it('ends every subscription when closed', async () => {
    const { registry: live } = registry();
    const subscriber = await join(live, source().spec);
    expect(await drain(subscriber)).toEqual([{ value: 1 }]);
    const next = outstanding.get(subscriber)!;
    live.close();
    expect(await next).toEqual({ value: undefined, done: true });
    expect(live.size).toBe(0);
  });
});
