import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DatabaseHandle } from '../../src/db/create-database.js';
import { observeStatement } from '../../src/observability/metrics.js';
import { currentRequest } from '../../src/observability/request-context.js';
import { insertSale, openStore, startCachedGateway, type CachedGateway } from '../cache/cache-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { parsePrometheus, valueOf, type Sample } from '../support/prometheus-text.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

interface LogLine {
  msg: string;
  level: number;
  requestId?: string;
  operation?: string;
  status?: number;
  durationMs?: number;
  cacheHit?: boolean;
  errorCodes?: string[];
}

function capturingLogger() {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { lines, logger };
}

const TOTALS = 'query Totals { dashboard { totalTransactions totalRevenue } }';

describe('request ids and the request log', () => {
  let database: TestDatabase;
  let gateway: TestGateway;
  const { lines, logger } = capturingLogger();

  beforeAll(async () => {
    database = await createTestDatabase();
    await insertSale(database.handle, '10.00');
    gateway = await startTestGateway(database.handle, {}, {}, { logger });
  });

  afterAll(async () => {
    await gateway?.close();
    await database?.drop();
  });

  const requestLines = (requestId: string) => lines.filter((line) => line.msg === 'request' && line.requestId === requestId);

  it("returns the caller's x-request-id and logs one line with it", async () => {
    const response = await gateway.post({ query: TOTALS }, { 'x-request-id': 'client-abc-123' });
    expect(response.status).toBe(200);
    expect(response.headers['x-request-id']).toBe('client-abc-123');
    const logged = requestLines('client-abc-123');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ operation: 'Totals', status: 200 });
    expect(logged[0]!.durationMs).toBeGreaterThanOrEqual(0);
    expect(logged[0]!.errorCodes).toBeUndefined();
  });

  it('makes a request id when none is sent, and replaces one that is not a plain token', async () => {
    const made = await gateway.post({ query: TOTALS });
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const odd = await gateway.post({ query: TOTALS }, { 'x-request-id': 'has spaces and "quotes"' });
    expect(odd.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('puts the request id in every error and the error codes in the log line', async () => {
    const response = await gateway.post({ query: '{ customers(first: 101) { totalCount } }' }, { 'x-request-id': 'bad-input-1' });
    expect(response.body.errors?.map((e) => e.extensions)).toEqual([
      expect.objectContaining({ code: 'BAD_USER_INPUT', requestId: 'bad-input-1' }),
    ]);
    expect(requestLines('bad-input-1')).toEqual([expect.objectContaining({ operation: 'anonymous', errorCodes: ['BAD_USER_INPUT'] })]);
  });

  it('logs routes other than /graphql without an operation', async () => {
    const response = await gateway.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'probe-1' } });
    expect(response.headers['x-request-id']).toBe('probe-1');
    expect(requestLines('probe-1')).toEqual([expect.objectContaining({ status: 200 })]);
    expect(requestLines('probe-1')[0]!.operation).toBeUndefined();
  });

  it('writes no other line per request', async () => {
    const before = lines.length;
    await gateway.post({ query: TOTALS }, { 'x-request-id': 'quiet-1' });
    expect(lines.slice(before)).toEqual([expect.objectContaining({ msg: 'request', requestId: 'quiet-1' })]);
  });
});

describe('GET /metrics', () => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let gateway: CachedGateway;

  beforeAll(async () => {
    database = await createTestDatabase();
    await insertSale(database.handle, '10.00');
    // On PostgreSQL, a handle wired as the server wires it: statement timings and request ids.
    handle = database.url
      ? await database.reopen({ onStatement: observeStatement, requestLabel: () => currentRequest()?.requestId })
      : database.handle;
    gateway = await startCachedGateway(handle, openStore('memory', 'metrics:'));
  });

  afterAll(async () => {
    await gateway?.close();
    await database?.drop();
  });

  async function scrape(): Promise<Sample[]> {
    const response = await gateway.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return parsePrometheus(response.body);
  }

  it('parses, and holds the process metrics', async () => {
    const samples = await scrape();
    expect(valueOf(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(samples.some((s) => s.name === 'nodejs_heap_size_used_bytes')).toBe(true);
  });

  it('counts requests, latencies, errors, and cache hits and misses by exactly what was sent', async () => {
    const before = await scrape();
    const query = 'query MetricsProbe($limit: Int) { dashboard { totalRevenue topProducts(limit: $limit) { revenue } } }';
    // Five different variables (five misses), then each again (five hits).
    for (let round = 0; round < 2; round++) {
      for (let limit = 1; limit <= 5; limit++) {
        const response = await gateway.post({ query, operationName: 'MetricsProbe', variables: { limit } });
        expect(response.status).toBe(200);
        expect(response.headers['x-cache']).toBe(round === 0 ? 'MISS' : 'HIT');
      }
    }
    for (let i = 0; i < 3; i++) {
      const bad = await gateway.post({ query: 'query BadProbe { customers(first: -1) { totalCount } }' });
      expect(bad.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => valueOf(after, name, labels) - valueOf(before, name, labels);

    expect(delta('marketpulse_http_requests_total', { operation: 'MetricsProbe', status: '200' })).toBe(10);
    expect(delta('marketpulse_http_request_duration_seconds_count', { operation: 'MetricsProbe', status: '200' })).toBe(10);
    expect(delta('marketpulse_http_request_duration_seconds_bucket', { operation: 'MetricsProbe', status: '200', le: '+Inf' })).toBe(10);
    expect(delta('marketpulse_http_requests_total', { operation: 'BadProbe', status: '200' })).toBe(3);
    expect(delta('marketpulse_graphql_errors_total', { code: 'BAD_USER_INPUT' })).toBe(3);
    expect(delta('marketpulse_cache_misses_total')).toBe(5 + 3);
    expect(delta('marketpulse_cache_hits_total')).toBe(5);
    // The scrape before this one is counted too, under its route.
    expect(delta('marketpulse_http_requests_total', { operation: '/metrics', status: '200' })).toBe(1);
  });

  it.runIf(inject('databaseUrl'))('times SQL by prepared-statement name and reports the pool', async () => {
    const before = await scrape();
    const response = await gateway.post({ query: '{ revenue(granularity: MONTH) { totalRevenue } }' });
    expect(response.status).toBe(200);
    const after = await scrape();
    const moved = after.filter(
      (s) => s.name === 'marketpulse_sql_duration_seconds_count' && s.value > valueOf(before, s.name, { query: s.labels.query! }),
    );
    expect(moved.length).toBeGreaterThan(0);
    for (const sample of moved) expect(sample.labels.query).toMatch(/^mp_[a-z0-9_]+_[0-9a-f]{12}$/);
    expect(moved.some((s) => s.labels.query!.startsWith('mp_v_'))).toBe(true);
    for (const state of ['in_use', 'idle', 'waiting']) {
      expect(after.some((s) => s.name === 'marketpulse_db_pool_connections' && s.labels.state === state)).toBe(true);
    }
    expect(valueOf(after, 'marketpulse_db_pool_connections', { state: 'idle' })).toBeGreaterThan(0);
    expect(valueOf(after, 'marketpulse_db_pool_connections', { state: 'waiting' })).toBe(0);
  });
});
