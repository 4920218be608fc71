import { randomInt } from 'node:crypto';
import type { GraphQLRequest } from './http.js';

// Requests that differ every time, for the cache-miss scenarios: the same document over a new date range each
// time (the response cache misses, the parsed-document cache hits), or a new document text each time (every
// cache misses). The ranges are distinct (from, to) pairs inside the data's days, visited in a scrambled order,
// so that short and long ranges, recent and old ones, alternate as they would from many analysts.

export interface DaySpan {
  first: string;
  last: string;
}

export interface DayRange {
  from: string;
  to: string;
}

const DAY_MS = 86_400_000;
const dayNumber = (day: string) => Date.parse(`${day}T00:00:00Z`) / DAY_MS;
const dayText = (n: number) => new Date(n * DAY_MS).toISOString().slice(0, 10);

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * Every range `from <= to` inside `span`, each once, in an order scrambled by a stride coprime with their
 * number, starting at a random place (each run, and each scenario, starts elsewhere). `capacity` is how many
 * there are: a scenario that sends more would repeat a range, and its answer would come from the cache.
 */
export class DistinctRanges {
  readonly capacity: number;
  private readonly pairs: Uint16Array;
  private readonly first: number;
  private readonly stride: number;
  private position: number;
  private sent = 0;

  constructor(span: DaySpan) {
    this.first = dayNumber(span.first);
    const days = dayNumber(span.last) - this.first + 1;
    if (!Number.isInteger(days) || days < 1) throw new Error(`no days between ${span.first} and ${span.last}`);
    this.capacity = (days * (days + 1)) / 2;
    this.pairs = new Uint16Array(this.capacity * 2);
    let at = 0;
    for (let from = 0; from < days; from += 1) {
      for (let to = from; to < days; to += 1) {
        this.pairs[at++] = from;
        this.pairs[at++] = to;
      }
    }
    // About the golden ratio of the count: consecutive requests land far apart.
    let stride = Math.max(1, Math.floor(this.capacity * 0.618));
    while (gcd(stride, this.capacity) !== 1) stride += 1;
    this.stride = stride;
    this.position = randomInt(this.capacity);
  }

  /** Ranges handed out so far; past `capacity` they repeat. */
  get count(): number {
    return this.sent;
  }

  next(): DayRange {
    const at = this.position;
    this.position = (this.position + this.stride) % this.capacity;
    this.sent += 1;
    return { from: dayText(this.first + this.pairs[at * 2]!), to: dayText(this.first + this.pairs[at * 2 + 1]!) };
  }
}

/** A sequence of requests, one new one per call; `describe` says how they vary, for RESULTS.md. */
export interface RequestSequence {
  next(): GraphQLRequest;
  describe: string;
  /** Requests made so far and how many distinct ones there are. */
  sent(): number;
  capacity: number;
}

/** `query` with `$from` and `$to` set to a new range each time. */
export function newRangeEachTime(query: string, span: DaySpan): RequestSequence {
  const ranges = new DistinctRanges(span);
  return {
    next: () => ({ query, variables: { ...ranges.next() } }),
    describe: `a new (from, to) each time, ${ranges.capacity.toLocaleString('en-US')} distinct ones between ${span.first} and ${span.last}`,
    sent: () => ranges.count,
    capacity: ranges.capacity,
  };
}

/**
 * `query` preceded by a comment that differs each time (so the text, and with it the parsed-document cache
 * key, is new), and with a new range each time as well: nothing of an earlier request can be reused.
 */
export function newTextEachTime(query: string, span: DaySpan): RequestSequence {
  const ranges = new DistinctRanges(span);
  const run = randomInt(2 ** 32).toString(36);
  let n = 0;
  return {
    next: () => ({ query: `# request ${run}-${(n++).toString(36)}\n${query}`, variables: { ...ranges.next() } }),
    describe: `a comment that differs each time before the document, and a new (from, to) each time as above`,
    sent: () => n,
    // The text never repeats; the ranges may, which is harmless once the text differs.
    capacity: Number.POSITIVE_INFINITY,
  };
}
