import type { DatabaseSpec, PreparedDatabase } from './databases.js';
import type { GraphQLRequest } from './http.js';
import type { LoadResult } from './load.js';
import type { RunningService, ServiceSpec } from './services.js';
import type { DaySpan, RequestSequence } from './varying-requests.js';

// The shapes of what a benchmark run consists of. The catalogue itself is in scenarios.ts.

/** autocannon rounds against one service with one request. */
export interface LoadScenario {
  kind: 'load';
  /** Stable key in results.json and for --only. */
  id: string;
  /** Row label in RESULTS.md. */
  title: string;
  /** Key of the service in the catalogue's `services`. */
  service: string;
  /** The request; with `vary`, the shape of the requests (as RESULTS.md shows it). */
  request: GraphQLRequest;
  /** A new request every time, made from the days of the service's data (the service must have a database). */
  vary?: (days: DaySpan) => RequestSequence;
  /** Problems with a sampled answer's `data` (undefined when it is right); failures count as errors. */
  check?: (data: unknown, request: GraphQLRequest) => string | undefined;
  /** Every response must come from the gateway's cache, once the gateway has one. */
  expectCacheHit?: boolean;
  /** No response may come from the gateway's cache (checked on every response, as hits are). */
  expectCacheMiss?: boolean;
  /**
   * The sampled answer must carry the same figures as another scenario's (run earlier): a cache hit equals
   * the uncached answer; the peer's figures equal the gateway's. Reported under Checks, not as errors.
   */
  sameAnswerAs?: { scenario: string; project?: (data: unknown) => unknown; projectOther?: (data: unknown) => unknown };
}

export interface ProbeContext {
  service(id: string): Promise<RunningService>;
  database(id: string): Promise<PreparedDatabase>;
  log(line: string): void;
}

export interface ProbeReport {
  /** Lines for RESULTS.md. */
  rows: { label: string; value: string }[];
  /** Machine-readable figures for results.json and for targets. */
  values: Record<string, number | string | boolean | null>;
  /** Anything that went wrong; counted as errors. */
  problems: string[];
}

/** A measurement that is not request throughput: statement counts, and later push latencies, subscribers held, … */
export interface ProbeScenario {
  kind: 'probe';
  id: string;
  title: string;
  /** Services it uses, so that the run starts them and keeps them up long enough. */
  services: string[];
  run(ctx: ProbeContext): Promise<ProbeReport>;
}

export type Scenario = LoadScenario | ProbeScenario;

export interface LoadOutcome extends LoadResult {
  kind: 'load';
  id: string;
  title: string;
  service: string;
  serviceDescription: string;
  serviceNotes: string[];
  request: GraphQLRequest;
  /** How the requests varied (RequestSequence.describe), when they did. */
  varies?: string;
  expectCacheHit: boolean;
  expectCacheMiss: boolean;
  /** undefined when there was nothing to compare with (e.g. --only left that scenario out). */
  sameAnswer?: { scenario: string; equal: boolean; detail?: string };
}

export interface ProbeOutcome extends ProbeReport {
  kind: 'probe';
  id: string;
  title: string;
}

export interface FailedOutcome {
  kind: 'failed';
  id: string;
  title: string;
  error: string;
}

export type Outcome = LoadOutcome | ProbeOutcome | FailedOutcome;

export interface OutcomeIndex {
  load(id: string): LoadOutcome | undefined;
  probe(id: string): ProbeOutcome | undefined;
  all: Outcome[];
}

export interface TargetVerdict {
  actual: string;
  ok: boolean;
}

/** A goal stated as a ratio or bound within one run; undefined from evaluate means not measured. */
export interface Target {
  id: string;
  label: string;
  evaluate(results: OutcomeIndex): TargetVerdict | undefined;
}

export interface Catalogue {
  databases: DatabaseSpec[];
  services: Record<string, ServiceSpec>;
  /** Run in this order. */
  scenarios: Scenario[];
  targets: Target[];
}
