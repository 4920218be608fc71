import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle, DatabaseOptions } from '../../src/db/database-handle.js';
import { observeStatement } from '../../src/observability/metrics.js';
import { currentRequest } from '../../src/observability/request-context.js';
import { insertSale } from '../cache/cache-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { parsePrometheus, valueOf, type Sample } from '../support/prometheus-text.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { describeWhereAvailable } from '../support/availability.js';
import { replicaPairUnavailable, startReplicaPair, type ReplicaPair } from '../support/replica-pair.js';
import { has } from '../support/requirements.js';
import { installQueryDelay, setQueryDelay } from '../support/slow-queries.js';
import { type CachedGateway, openStore, startCachedGateway } from '../support/gateway-with-cache.js';

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

  const requestLines = (requestId: string) =>
    lines.filter((line) => line.msg === 'request' && line.requestId === requestId);

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
    const response = await gateway.post(
      { query: '{ customers(first: 101) { totalCount } }' },
      { 'x-request-id': 'bad-input-1' },
    );
    expect(response.body.errors?.map((e) => e.extensions)).toEqual([
      expect.objectContaining({ code: 'BAD_USER_INPUT', requestId: 'bad-input-1' }),
    ]);
    expect(requestLines('bad-input-1')).toEqual([
      expect.objectContaining({ operation: 'anonymous', errorCodes: ['BAD_USER_INPUT'] }),
    ]);
  });

  it('logs routes other than /graphql without an operation', async () => {
    const response = await gateway.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { 'x-request-id': 'probe-1' },
    });
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
    const query =
      'query MetricsProbe($limit: Int) { dashboard { totalRevenue topProducts(limit: $limit) { revenue } } }';
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
    const delta = (name: string, labels: Record<string, string> = {}) =>
      valueOf(after, name, labels) - valueOf(before, name, labels);

    expect(delta('marketpulse_http_requests_total', { operation: 'MetricsProbe', status: '200' })).toBe(10);
    expect(delta('marketpulse_http_request_duration_seconds_count', { operation: 'MetricsProbe', status: '200' })).toBe(
      10,
    );
    expect(
      delta('marketpulse_http_request_duration_seconds_bucket', {
        operation: 'MetricsProbe',
        status: '200',
        le: '+Inf',
      }),
    ).toBe(10);
    expect(delta('marketpulse_http_requests_total', { operation: 'BadProbe', status: '200' })).toBe(3);
    expect(delta('marketpulse_graphql_errors_total', { code: 'BAD_USER_INPUT' })).toBe(3);
    expect(delta('marketpulse_cache_misses_total')).toBe(5 + 3);
    expect(delta('marketpulse_cache_hits_total')).toBe(5);
    // The scrape before this one is counted too, under its route.
    expect(delta('marketpulse_http_requests_total', { operation: '/metrics', status: '200' })).toBe(1);
  });

  it.runIf(has('postgres-server', 'timing prepared statements and the connection pool'))(
    'times SQL by prepared-statement name and reports the pool',
    async () => {
      const before = await scrape();
      const response = await gateway.post({ query: '{ revenue(granularity: MONTH) { totalRevenue } }' });
      expect(response.status).toBe(200);
      const after = await scrape();
      const moved = after.filter(
        (s) =>
          s.name === 'marketpulse_sql_duration_seconds_count' &&
          s.value > valueOf(before, s.name, { query: s.labels.query! }),
      );
      expect(moved.length).toBeGreaterThan(0);
      for (const sample of moved) expect(sample.labels.query).toMatch(/^mp_[a-z0-9_]+_[0-9a-f]{12}$/);
      expect(moved.some((s) => s.labels.query!.startsWith('mp_v_'))).toBe(true);
      for (const state of ['in_use', 'idle', 'waiting']) {
        expect(after.some((s) => s.name === 'marketpulse_db_pool_connections' && s.labels.state === state)).toBe(true);
      }
      expect(valueOf(after, 'marketpulse_db_pool_connections', { state: 'idle' })).toBeGreaterThan(0);
      expect(valueOf(after, 'marketpulse_db_pool_connections', { state: 'waiting' })).toBe(0);
    },
  );
});

const REQUEST =
  '{ dashboard(from: "2025-03-01", to: "2025-03-31") { totalRevenue topProducts { revenue } recentTrend(days: 7) { date } } }';
// Each of the dashboard's statements names itself in a leading comment.
const DASHBOARD_STATEMENTS = ['dashboard.totals', 'dashboard.top_products', 'revenue.trend'];

// The server's log is read from a PostgreSQL of this file's own, logging every statement with its duration, as
// log_min_duration_statement does for slow ones.
describeWhereAvailable(replicaPairUnavailable())('the request id in the server log', () => {
  let pair: ReplicaPair;
  let database: TestDatabase;
  // Log entries, each with the lines of its statement's text (log_line_prefix starts every entry with a timestamp).
  const logged = async () =>
    (await readFile(path.join(pair.directory, 'primary.log'), 'utf8')).split(/\n(?=\d{4}-\d{2}-\d{2} )/);

  beforeAll(async () => {
    pair = await startReplicaPair({ settings: { log_min_duration_statement: 0, log_line_prefix: '%m [%p] ' } });
    database = await createTestDatabase({}, pair.primaryUrl());
    await insertSale(database.handle, '12.50');
  });

  afterAll(async () => {
    await database?.drop();
    await pair?.stop();
  });

  async function servedBy(options: Partial<DatabaseOptions>, requestId: string): Promise<string[]> {
    const handle = await database.reopen({ requestLabel: () => currentRequest()?.requestId, ...options });
    const gateway = await startTestGateway(handle);
    try {
      const response = await gateway.post({ query: REQUEST }, { 'x-request-id': requestId });
      expect(response.status).toBe(200);
    } finally {
      await gateway.close();
      await handle.close();
    }
    return (await logged()).filter((entry) => entry.includes(requestId));
  }

  it('names the request in the portal of each named statement, which every execute line shows', async () => {
    const lines = await servedBy({}, 'req-portal-7');
    const executes = lines.filter((entry) =>
      /duration: [\d.]+ ms {2}execute mp_[a-z0-9_]+\/req-portal-7: /.test(entry),
    );
    for (const statement of DASHBOARD_STATEMENTS)
      expect(executes.filter((line) => line.includes(`/* ${statement} */`))).toHaveLength(1);
    // Named once per session: a comment in their text would name no request.
    expect(lines.filter((line) => line.includes('/* request'))).toEqual([]);
  });

  it('leads the text of each unnamed statement with the request id too', async () => {
    const lines = await servedBy({ preparedStatements: false }, 'req-unnamed-8');
    const executes = lines.filter((line) =>
      line.includes('execute <unnamed>/req-unnamed-8: /* request req-unnamed-8 */'),
    );
    for (const statement of DASHBOARD_STATEMENTS)
      expect(executes.filter((line) => line.includes(`/* ${statement} */`))).toHaveLength(1);
  });
});

describe.runIf(has('postgres-server', 'reading the request id from pg_stat_activity in another session'))(
  'the request id in pg_stat_activity',
  () => {
    let database: TestDatabase;
    let gateway: TestGateway;

    beforeAll(async () => {
      database = await createTestDatabase();
      await installQueryDelay(database.handle);
      // Unnamed statements, whose text travels with every execution: PG_PREPARED_STATEMENTS=false.
      const handle = await database.reopen({
        preparedStatements: false,
        requestLabel: () => currentRequest()?.requestId,
      });
      gateway = await startTestGateway(handle);
    });

    afterAll(async () => {
      await gateway?.close();
      await database?.drop();
    });

    it('leads the query of the session running the request with the request id', async () => {
      await setQueryDelay(database.handle, 1.5);
      const pending = gateway.post({ query: '{ dashboard { totalRevenue } }' }, { 'x-request-id': 'slow-request-42' });
      let seen: { application_name: string; query: string }[] = [];
      const deadline = Date.now() + 10_000;
      while (seen.length === 0 && Date.now() < deadline) {
        const { rows } = await sql<{ application_name: string; query: string }>`
        SELECT application_name, query FROM pg_stat_activity
        WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid() AND query LIKE '%dashboard.totals%'`.execute(
          database.handle.db,
        );
        seen = rows;
        if (seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await setQueryDelay(database.handle, 0);
      expect(seen.map((row) => row.query.slice(0, 30))).toEqual(['/* request slow-request-42 */ ']);
      expect(seen[0]!.application_name).toBe('marketpulse');
      expect((await pending).status).toBe(200);
    });
  },
);

describe.runIf(has('postgres-server', 'binding portals in a transaction of a PostgreSQL server'))(
  'statements of one request in a transaction',
  () => {
    let database: TestDatabase;

    beforeAll(async () => {
      database = await createTestDatabase();
    });

    afterAll(async () => {
      await database?.drop();
    });

    it('bind no portal there, where a second one of the same name would be refused', async () => {
      const handle = await database.reopen({ requestLabel: () => 'one-request' });
      const rows = await handle.db.transaction().execute(async (trx) => {
        const first = await sql<{ n: number }>`SELECT ${1}::int AS n`.execute(trx);
        const second = await sql<{ n: number }>`SELECT ${2}::int AS n`.execute(trx);
        return [...first.rows, ...second.rows];
      });
      expect(rows).toEqual([{ n: 1 }, { n: 2 }]);
    });
  },
);
