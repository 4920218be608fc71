import autocannon from 'autocannon';
import { LOOPBACK, requestBody, requestHeaders, send, type GraphQLBody, type GraphQLRequest } from './http.js';
import type { RequestSequence } from './varying-requests.js';

// Load rounds with autocannon: a warm-up whose numbers are dropped, then N rounds; the report takes the
// median of the rounds. Latencies are recorded here from autocannon's per-response event rather than read
// from its histogram, which counts whole milliseconds: sub-millisecond answers (the ceiling, cache hits)
// would all read 0 there.
//
// A server that completes almost nothing in a round (PostGraphile at a million transactions: seconds per
// answer) is rated by connections / median latency rather than by the answers counted: with every
// connection always waiting for one answer, that is its throughput (Little's law), while the count loses
// whatever was still in flight when the round ended, which for such a server is much of its work. Such a
// server is known by its rounds having been lengthened for it, or by a round that completed fewer than
// ANSWERS_PER_CONNECTION answers per connection all the same.

export interface LoadSettings {
  connections: number;
  rounds: number;
  durationSeconds: number;
  warmupSeconds: number;
  /** Seconds before autocannon gives up on a response (counted as an error). */
  timeoutSeconds: number;
  /** Responses fetched and checked one by one before the warm-up and before each round. */
  samples: number;
}

export interface RoundResult {
  /** Answers per second; for a slow server (see above), connections / p50. */
  reqPerSec: number;
  /** Answers completed within the round per second, whatever the rating. */
  completedPerSec: number;
  /** reqPerSec is connections / p50: the server completes too few answers in a round for their count to mean much. */
  ratedByLatency: boolean;
  p50Ms: number;
  p99Ms: number;
  responses: number;
  /** non2xx + socket errors and timeouts + bodies failing the per-response check. */
  errors: number;
  non2xx: number;
  socketErrors: number;
  timeouts: number;
  mismatches: number;
  durationSeconds: number;
}

export type CacheState = 'hit' | 'miss' | 'mixed' | 'absent';

export interface SampleReport {
  checked: number;
  /** Sampled responses with at least one problem. */
  failed: number;
  problems: string[];
  /** What the sampled responses said in extensions.cache: 'absent' when the gateway has no cache yet. */
  cache: CacheState;
  /** `data` of the first sample, for comparing one scenario's answer with another's. */
  firstData: unknown;
  responseBytes: number;
  sampleMs: number[];
}

export interface LoadResult {
  /** Seconds per round: --duration, or longer for a server so slow that a round would see few answers. */
  roundSeconds: number;
  rounds: RoundResult[];
  median: { reqPerSec: number; p50Ms: number; p99Ms: number };
  /** All errors of all rounds plus failed samples (not a median: a single error is worth seeing). */
  errors: number;
  samples: SampleReport;
}

export interface LoadTarget {
  baseUrl: string;
  request: GraphQLRequest;
  /** A new request for every one sent (samples and rounds) instead of `request` every time. */
  sequence?: RequestSequence;
  /** Scenario-specific problems with a sampled answer's `data`; undefined when it is right. */
  check?: (data: unknown, request: GraphQLRequest) => string | undefined;
  /** True for cache-hit scenarios: once samples show a cache, every response must be a hit. */
  expectCacheHit?: boolean;
  /** True for cache-miss scenarios: once samples show a cache, no response may be a hit. */
  expectCacheMiss?: boolean;
  /** Why the server is gone, when it is: the run stops measuring a dead server. */
  serverGone?: () => string | undefined;
}

/** The server under load ended during a scenario; what it measured since is connection errors, not the server. */
export class ServerGoneError extends Error {}

function assertServerUp(target: LoadTarget, when: string): void {
  const reason = target.serverGone?.();
  if (reason) throw new ServerGoneError(`the server ended ${when} (${reason})`);
}

/**
 * Enough answers per connection in a round that dropping the ones still in flight at its end matters little;
 * a round with fewer is rated by its latency.
 */
export const ANSWERS_PER_CONNECTION = 3;
const MAX_ROUND_SECONDS = 60;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function cacheStateOf(body: GraphQLBody): boolean | undefined {
  const cache = body.extensions?.cache as { hit?: unknown } | undefined;
  return typeof cache?.hit === 'boolean' ? cache.hit : undefined;
}

/**
 * Fetches `count` responses one after another and checks each thoroughly. `expectHits` is false for the
 * first samples of a cache-hit scenario, which are what fills the cache.
 */
export async function sample(
  target: LoadTarget,
  count: number,
  timeoutMs: number,
  expectHits = false,
  expectMisses = false,
): Promise<SampleReport> {
  const problems: string[] = [];
  const hits: (boolean | undefined)[] = [];
  const sampleMs: number[] = [];
  let failed = 0;
  let firstData: unknown;
  let responseBytes = 0;
  for (let i = 0; i < count; i += 1) {
    const found = await checkOne(target, timeoutMs);
    if (found.ms !== undefined) sampleMs.push(found.ms);
    if (found.bytes !== undefined) responseBytes = found.bytes;
    if (found.problems.length > 0) {
      failed += 1;
      problems.push(...found.problems);
    }
    if (firstData === undefined) firstData = found.data;
    hits.push(found.hit);
  }
  const known = hits.filter((hit): hit is boolean => hit !== undefined);
  const cache: CacheState =
    known.length === 0 ? 'absent' : known.every(Boolean) ? 'hit' : known.some(Boolean) ? 'mixed' : 'miss';
  if (expectHits && known.some((hit) => !hit)) {
    failed += known.filter((hit) => !hit).length;
    problems.push(`expected cache hits, samples said ${cache}`);
  }
  if (expectMisses && known.some(Boolean)) {
    failed += known.filter(Boolean).length;
    problems.push(`expected cache misses, samples said ${cache}`);
  }
  return { checked: count, failed, problems: [...new Set(problems)], cache, firstData, responseBytes, sampleMs };
}

async function checkOne(
  target: LoadTarget,
  timeoutMs: number,
): Promise<{ problems: string[]; data?: unknown; hit?: boolean; ms?: number; bytes?: number }> {
  const request = target.sequence?.next() ?? target.request;
  let response;
  try {
    response = await send(target.baseUrl, request, timeoutMs);
  } catch (error) {
    return { problems: [`request failed: ${error instanceof Error ? error.message : String(error)}`] };
  }
  const { ms } = response;
  const bytes = response.bytes.length;
  let body: GraphQLBody;
  try {
    body = JSON.parse(response.bytes.toString('utf8')) as GraphQLBody;
  } catch {
    return {
      problems: [`HTTP ${response.status}, not JSON: ${response.bytes.toString('utf8').slice(0, 200)}`],
      ms,
      bytes,
    };
  }
  const problems: string[] = [];
  if (response.status !== 200) problems.push(`HTTP ${response.status}`);
  if (body.errors?.length) {
    problems.push(
      `errors: ${body.errors.map((e) => `${e.message} (${typeof e.extensions?.code === 'string' ? e.extensions.code : '?'})`).join('; ')}`,
    );
  }
  if (body.data === undefined || body.data === null) {
    problems.push('no data');
  } else {
    const problem = target.check?.(body.data, request);
    if (problem) problems.push(problem);
  }
  return { problems, data: body.data ?? undefined, hit: cacheStateOf(body), ms, bytes };
}

/** A check cheap enough for every response at tens of thousands per second: a GraphQL answer without errors. */
function cheapVerifier(expect: 'hit' | 'miss' | undefined): (body: unknown) => boolean {
  // autocannon hands over the body as a string it concatenated from the response's chunks.
  const answered = (body: unknown): body is string =>
    typeof body === 'string' && body.includes('"data":') && !body.includes('"errors":');
  if (expect === 'hit') return (body) => answered(body) && body.includes('"hit":true');
  if (expect === 'miss') return (body) => answered(body) && body.includes('"hit":false');
  return answered;
}

/** One autocannon run against the target; returns the numbers this benchmark reports. */
export function round(
  target: LoadTarget,
  settings: Pick<LoadSettings, 'connections' | 'timeoutSeconds'>,
  durationSeconds: number,
  verifyCache: 'hit' | 'miss' | undefined,
  onInstance: (stop: (() => void) | undefined) => void = () => {},
  /** Rate the round by its latency whatever it completed: its server is known to be that slow. */
  slowServer = false,
): Promise<RoundResult> {
  const url = new URL(target.request.path ?? '/graphql', target.baseUrl);
  if (url.hostname !== LOOPBACK) throw new Error(`refusing to send load to ${url.hostname}: loopback only`);
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  const { sequence } = target;
  return new Promise<RoundResult>((resolve, reject) => {
    const instance = autocannon(
      {
        url: url.toString(),
        method: 'POST',
        headers: requestHeaders(target.request),
        body: requestBody(target.request),
        // autocannon rebuilds a request that has a setupRequest before every send: each one a new body.
        ...(sequence
          ? {
              requests: [
                { setupRequest: (request: autocannon.Request) => ({ ...request, body: requestBody(sequence.next()) }) },
              ],
            }
          : {}),
        connections: settings.connections,
        pipelining: 1,
        duration: durationSeconds,
        timeout: settings.timeoutSeconds,
        verifyBody: cheapVerifier(verifyCache),
      },
      (error: unknown, result: autocannon.Result) => {
        onInstance(undefined);
        if (error) return reject(error instanceof Error ? error : new Error('autocannon failed', { cause: error }));
        const sorted = latencies.subarray(0, count).sort();
        const socketErrors = result.errors - result.timeouts;
        const completedPerSec = result.requests.total / result.duration;
        const p50Ms = percentile(sorted, 50);
        const ratedByLatency =
          (slowServer || result.requests.total < settings.connections * ANSWERS_PER_CONNECTION) && p50Ms > 0;
        resolve({
          reqPerSec: ratedByLatency ? settings.connections / (p50Ms / 1000) : completedPerSec,
          completedPerSec,
          ratedByLatency,
          p50Ms,
          p99Ms: percentile(sorted, 99),
          responses: result.requests.total,
          errors: result.non2xx + result.errors + result.mismatches,
          non2xx: result.non2xx,
          socketErrors,
          timeouts: result.timeouts,
          mismatches: result.mismatches,
          durationSeconds: result.duration,
        });
      },
    );
    instance.on('response', (_client, _status, _bytes, responseTime) => {
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = responseTime;
    });
    onInstance(() => instance.stop());
  });
}

/** Samples, warms up, runs the rounds, and takes the medians. */
export async function runLoad(
  target: LoadTarget,
  settings: LoadSettings,
  log: (line: string) => void,
  onInstance?: (stop: (() => void) | undefined) => void,
): Promise<LoadResult> {
  const timeoutMs = settings.timeoutSeconds * 1000;
  const first = await sample(target, settings.samples, timeoutMs, false, target.expectCacheMiss);
  const problems = [...first.problems];
  let failedSamples = first.failed;
  // Per-response hit (or miss) checks only once the gateway shows it has a cache at all.
  const verifyCache =
    first.cache === 'absent' ? undefined : target.expectCacheHit ? 'hit' : target.expectCacheMiss ? 'miss' : undefined;
  // autocannon counts only the answers that arrive within a round, so a round must be long compared with
  // one answer under load (about `connections` times one alone, with nothing to run them in parallel).
  const alone = first.sampleMs.length > 0 ? median(first.sampleMs) / 1000 : 0;
  const roundSeconds = Math.min(
    MAX_ROUND_SECONDS,
    Math.max(settings.durationSeconds, Math.ceil(alone * settings.connections * ANSWERS_PER_CONNECTION)),
  );
  if (roundSeconds > settings.durationSeconds) {
    log(
      `    one answer alone takes ${alone.toFixed(2)} s: rounds of ${roundSeconds} s instead of ${settings.durationSeconds} s`,
    );
  }
  assertServerUp(target, 'while sampled');
  if (settings.warmupSeconds > 0) await round(target, settings, settings.warmupSeconds, undefined, onInstance);
  assertServerUp(target, 'during the warm-up');
  const rounds: RoundResult[] = [];
  const checks: SampleReport[] = [];
  for (let i = 0; i < settings.rounds; i += 1) {
    // Also lets a slow server finish what the previous round left in flight before the next one starts.
    const check = await sample(target, settings.samples, timeoutMs, target.expectCacheHit, target.expectCacheMiss);
    checks.push(check);
    problems.push(...check.problems);
    failedSamples += check.failed;
    const result = await round(
      target,
      settings,
      roundSeconds,
      verifyCache,
      onInstance,
      roundSeconds > settings.durationSeconds,
    );
    assertServerUp(target, `during round ${i + 1}`);
    log(
      `    round ${i + 1}/${settings.rounds}: ${result.reqPerSec.toFixed(1)} req/s${result.ratedByLatency ? ` (rated by latency; ${result.responses} answers completed)` : ''}, ` +
        `p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, ${result.errors} errors`,
    );
    rounds.push(result);
  }
  // What the rounds were served with: the samples just before them (the first ones filled the cache).
  const states = new Set(checks.map((check) => check.cache));
  const cache: CacheState = states.size === 0 ? first.cache : states.size === 1 ? [...states][0]! : 'mixed';
  const last = checks.at(-1) ?? first;
  return {
    roundSeconds,
    rounds,
    median: {
      reqPerSec: median(rounds.map((r) => r.reqPerSec)),
      p50Ms: median(rounds.map((r) => r.p50Ms)),
      p99Ms: median(rounds.map((r) => r.p99Ms)),
    },
    errors: rounds.reduce((sum, r) => sum + r.errors, 0) + failedSamples,
    samples: {
      ...last,
      checked: first.checked + checks.reduce((sum, check) => sum + check.checked, 0),
      failed: failedSamples,
      problems: [...new Set(problems)],
      cache,
      sampleMs: [first, ...checks].flatMap((check) => check.sampleMs),
    },
  };
}
