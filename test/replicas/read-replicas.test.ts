import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChangeListener } from '../../src/changes/change-listener.js';
import { openCacheStore, type CacheStore } from '../../src/cache/cache-store.js';
import type { CacheFreshness } from '../../src/cache/response-cache.js';
import {
  ReadReplicas,
  parseLsn,
  replicaFailure,
  replicaName,
  type FallbackReason,
  type ReadTarget,
} from '../../src/db/read-replicas.js';
import { describeWhereAvailable } from '../support/availability.js';
import { createTestDatabase, withDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { parsePrometheus, valueOf } from '../support/prometheus-text.js';
import { replicaPairUnavailable, startReplicaPair, type ReplicaPair } from '../support/replica-pair.js';
import { installQueryDelay, setQueryDelay } from '../support/slow-queries.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

interface Totals {
  dashboard: { totalTransactions: number; totalRevenue: string };
}

describe('WAL positions and replica failures', () => {
  it('reads a WAL position as a number that orders as the positions do', () => {
    expect(parseLsn('0/0')).toBe(0n);
    expect(parseLsn('16/B374D848')).toBe(0x16b374d848n);
    expect(parseLsn('1/0') > parseLsn('0/FFFFFFFF')).toBe(true);
    expect(() => parseLsn('16-B374D848')).toThrow(/not a WAL position/);
  });

  it('retries recovery conflicts and lost sessions on the primary, and nothing else', () => {
    expect(
      replicaFailure(Object.assign(new Error('canceling statement due to conflict with recovery'), { code: '40001' })),
    ).toBe('conflict');
    expect(
      replicaFailure(
        Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      ),
    ).toBe('unreachable');
    expect(replicaFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toBe(
      'unreachable',
    );
    expect(replicaFailure(new Error('Connection terminated unexpectedly'))).toBe('unreachable');
    // A serialization failure of another kind, a bad statement or a timeout would fail on the primary as well.
    expect(replicaFailure(Object.assign(new Error('could not serialize access'), { code: '40001' }))).toBeUndefined();
    expect(replicaFailure(Object.assign(new Error('syntax error'), { code: '42601' }))).toBeUndefined();
    expect(
      replicaFailure(Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' })),
    ).toBeUndefined();
  });

  it('names a replica by host, port and database, never by its credentials', () => {
    expect(replicaName('postgres://reader:secret@replica-1.internal:6432/marketpulse')).toBe(
      'replica-1.internal:6432/marketpulse',
    );
    expect(replicaName('postgresql://db/marketpulse')).toBe('db:5432/marketpulse');
  });
});

describeWhereAvailable(replicaPairUnavailable())('report reads on a streaming replica', () => {
  let pair: ReplicaPair;
  let database: TestDatabase;
  let replicaUrl: string;
  let changes: ChangeListener;
  let replicas: ReadReplicas;
  let store: CacheStore;
  let gateway: TestGateway;
  const reads: { target: ReadTarget; replica?: string }[] = [];
  const fallbacks: { replica: string; reason: FallbackReason }[] = [];
  let queries = 0;

  const primarySql = async <R extends object>(text: string, values?: unknown[]): Promise<R[]> => {
    const client = new pg.Client({ connectionString: database.url! });
    await client.connect();
    try {
      return (await client.query(text, values)).rows as R[];
    } finally {
      await client.end();
    }
  };
  const replicaSql = async <R extends object>(text: string, values?: unknown[]): Promise<R[]> => {
    const client = new pg.Client({ connectionString: replicaUrl });
    await client.connect();
    try {
      return (await client.query(text, values)).rows as R[];
    } finally {
      await client.end();
    }
  };
  // The expected figure, by plain SQL over the base table on the primary.
  const expectedCount = async () =>
    Number((await primarySql<{ n: string }>('SELECT count(*) AS n FROM transactions'))[0]!.n);

  /** A dashboard query no earlier request asked (a name of its own): never answered from the cache. */
  async function freshTotals() {
    queries += 1;
    const before = reads.length;
    const response = await gateway.request<Totals, never>(
      `query Totals${queries} { dashboard { totalTransactions totalRevenue } }`,
    );
    expect(response.status).toBe(200);
    expect(response.body.errors).toBeUndefined();
    return {
      data: response.body.data!.dashboard,
      cache: response.body.extensions?.cache as CacheFreshness,
      targets: reads.slice(before).map((read) => read.target),
    };
  }

  async function untilServedBy(target: ReadTarget, timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = await freshTotals();
      if (answer.targets.length > 0 && answer.targets.every((read) => read === target)) return answer;
      if (Date.now() > deadline)
        throw new Error(
          `no answer was read from the ${target} alone within ${timeoutMs} ms: ${answer.targets.join(', ')}`,
        );
      await sleep(20);
    }
  }

  async function waitForVersionAfter(version: string) {
    const deadline = Date.now() + 10_000;
    while (changes.version === version) {
      if (Date.now() > deadline) throw new Error('the change listener did not hear the write');
      await sleep(5);
    }
  }

  let nextId = 1_000;
  async function insertTransaction(amount: string) {
    const id = (nextId += 1);
    await primarySql(`INSERT INTO transactions VALUES ($1, 1, 1, 1, $2, 'completed', '2025-03-11T12:00:00Z')`, [
      id,
      amount,
    ]);
  }

  async function readiness() {
    const response = await gateway.app.inject({ method: 'GET', url: '/readyz' });
    return {
      status: response.statusCode,
      body: response.json<{
        status: string;
        replicas: { name: string; state: string; reason?: string; lagBytes?: number }[];
      }>(),
    };
  }

  beforeAll(async () => {
    // Any lock the primary takes that a replica's query holds cancels that query at once (a recovery conflict).
    pair = await startReplicaPair({ settings: { max_standby_streaming_delay: '0' } });
    database = await createTestDatabase({}, pair.primaryUrl());
    replicaUrl = withDatabase(pair.replicaUrl(), new URL(database.url!).pathname.slice(1));
    await installQueryDelay(database.handle);
    await primarySql(`INSERT INTO customers (id, name, created_at) VALUES (1, 'לקוח', now())`);
    await primarySql(
      `INSERT INTO products (id, sku, name, category, unit_price) VALUES (1, 'SKU-1', 'מוצר', 'בדיקות', 25)`,
    );
    await primarySql(`INSERT INTO transactions VALUES (1, 1, 1, 1, 25.00, 'completed', '2025-03-10T12:00:00Z')`);
    await pair.waitForReplay();
    changes = await ChangeListener.start(database.handle, silent);
    await changes.whenListening();
    replicas = new ReadReplicas(
      { db: database.handle.db, statements: database.handle.statements! },
      [replicaUrl],
      { reportTimezone: 'UTC' },
      {
        maxWaitMs: 0,
        changes,
        logger: silent,
        onRead: (target, replica) => reads.push({ target, ...(replica ? { replica } : {}) }),
        onFallback: (replica, reason) => fallbacks.push({ replica, reason }),
      },
    );
    store = openCacheStore({
      redis: undefined,
      keyPrefix: 'mp-test-replicas:',
      commandTimeoutMs: 100,
      maxMegabytes: 8,
      logger: silent,
    });
    gateway = await startTestGateway(
      database.handle,
      {},
      {
        cacheStatus: () => store.status(),
        cache: {
          store: store.cache,
          ttlSeconds: 60,
          dataVersion: () => changes.version,
          hearsChanges: () => changes.hearsChanges,
          reportTimezone: 'UTC',
        },
        replicas,
      },
    );
  }, 120_000);

  afterAll(async () => {
    await gateway?.close();
    await replicas?.close();
    await changes?.close();
    await store?.close();
    await database?.drop();
    await pair?.stop();
  });

  it('reads reports from the replica once it has replayed the current data version', async () => {
    const answer = await untilServedBy('replica');
    expect(answer.data.totalTransactions).toBe(await expectedCount());
    expect(reads.at(-1)).toEqual({ target: 'replica', replica: replicaName(replicaUrl) });
    // The gateway's sessions are on the replica, in this database.
    const sessions = await replicaSql<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'marketpulse'`,
    );
    expect(Number(sessions[0]!.n)).toBeGreaterThan(0);
    const ready = await readiness();
    expect(ready).toMatchObject({
      status: 200,
      body: { status: 'ready', replicas: [{ name: replicaName(replicaUrl), state: 'up' }] },
    });
  });

  it('answers with a write the paused replica lacks, from the primary, and caches no answer without it', async () => {
    await untilServedBy('replica');
    const cachedQuery = '{ dashboard { totalTransactions totalRevenue } }';
    const first = await gateway.request<Totals, never>(cachedQuery);
    const before = first.body.data!.dashboard.totalTransactions;
    expect(before).toBe(await expectedCount());

    await pair.pauseReplay();
    try {
      const version = changes.version;
      await insertTransaction('10.00');
      await waitForVersionAfter(version);
      const expected = await expectedCount();
      expect(expected).toBe(before + 1);
      // The replica has not applied the write: an answer read there would lack it.
      expect(Number((await replicaSql<{ n: string }>('SELECT count(*) AS n FROM transactions'))[0]!.n)).toBe(before);

      const fresh = await freshTotals();
      expect(fresh.data.totalTransactions).toBe(expected);
      expect(fresh.targets.length).toBeGreaterThan(0);
      expect(fresh.targets.every((target) => target === 'primary')).toBe(true);

      // The query answered before the write is not served under the new version: read afresh, with the write.
      const again = await gateway.request<Totals, never>(cachedQuery);
      expect(again.body.data!.dashboard.totalTransactions).toBe(expected);
      expect(again.body.extensions!.cache).toMatchObject({ hit: false, dataVersion: changes.version });
      // What was cached under the new version holds the write.
      const hit = await gateway.request<Totals, never>(cachedQuery);
      expect(hit.body.extensions!.cache).toMatchObject({ hit: true, dataVersion: changes.version });
      expect(hit.body.data!.dashboard.totalTransactions).toBe(expected);

      // Still paused: every fresh answer goes on being read from the primary.
      await sleep(100);
      const later = await freshTotals();
      expect(later.targets.every((target) => target === 'primary')).toBe(true);
      const ready = await readiness();
      expect(ready.status).toBe(200);
      expect(ready.body.status).toBe('degraded');
      expect(ready.body.replicas[0]).toMatchObject({
        state: 'paused',
        reason: expect.stringMatching(/replay is paused/),
      });
    } finally {
      await pair.resumeReplay();
    }
    // Replayed again: reads go back to the replica, which now has the write.
    const back = await untilServedBy('replica');
    expect(back.data.totalTransactions).toBe(await expectedCount());
  });

  it('reads exports from the replica, and from the primary while the replica lacks the current version', async () => {
    await untilServedBy('replica');
    const exportRevenue = async () => {
      const before = reads.length;
      const response = await gateway.app.inject({
        method: 'GET',
        url: '/export/revenue?format=ndjson&from=2025-03-10&to=2025-03-31',
      });
      expect(response.statusCode).toBe(200);
      const points = response.body
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { transactionCount: number });
      return {
        count: points.reduce((sum, point) => sum + point.transactionCount, 0),
        targets: reads.slice(before).map((read) => read.target),
      };
    };
    const completed = async () =>
      Number(
        (await primarySql<{ n: string }>(`SELECT count(*) AS n FROM transactions WHERE status = 'completed'`))[0]!.n,
      );
    const onReplica = await exportRevenue();
    expect(onReplica.count).toBe(await completed());
    expect(onReplica.targets.length).toBeGreaterThan(0);
    expect(onReplica.targets.every((target) => target === 'replica')).toBe(true);

    await pair.pauseReplay();
    try {
      const version = changes.version;
      await insertTransaction('9.00');
      await waitForVersionAfter(version);
      const onPrimary = await exportRevenue();
      expect(onPrimary.count).toBe(await completed());
      expect(onPrimary.count).toBe(onReplica.count + 1);
      expect(onPrimary.targets.every((target) => target === 'primary')).toBe(true);
    } finally {
      await pair.resumeReplay();
    }
  });

  it('waits up to READ_REPLICA_MAX_WAIT_MS for a lagging replica, then reads from the primary', async () => {
    const targets: ReadTarget[] = [];
    const waiting = new ReadReplicas(
      { db: database.handle.db, statements: database.handle.statements! },
      [replicaUrl],
      { reportTimezone: 'UTC' },
      {
        maxWaitMs: 1_000,
        changes,
        logger: silent,
        onRead: (target) => void targets.push(target),
      },
    );
    const count = async () =>
      Number(
        (
          await waiting.db
            .selectFrom('transactions')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    try {
      await pair.pauseReplay();
      const version = changes.version;
      await insertTransaction('11.00');
      await waitForVersionAfter(version);
      await sleep(50);
      const started = performance.now();
      expect(await count()).toBe(await expectedCount());
      expect(performance.now() - started).toBeGreaterThanOrEqual(990);
      expect(targets.at(-1)).toBe('primary');

      // Replay resumed during the wait: the read is served by the replica, within the wait.
      const version2 = changes.version;
      await insertTransaction('12.00');
      await waitForVersionAfter(version2);
      await sleep(50);
      const resumed = setTimeout(() => void pair.resumeReplay(), 100);
      const started2 = performance.now();
      const pending = count();
      expect(await pending).toBe(await expectedCount());
      clearTimeout(resumed);
      expect(performance.now() - started2).toBeLessThan(1_000);
      expect(targets.at(-1)).toBe('replica');
    } finally {
      await pair.resumeReplay();
      await waiting.close();
    }
  });

  it('runs a statement a recovery conflict cancels on the replica again on the primary', async () => {
    await untilServedBy('replica');
    await setQueryDelay(database.handle, 1.5);
    await pair.waitForReplay();
    const conflictsBefore = fallbacks.filter((fallback) => fallback.reason === 'conflict').length;
    // A statement that is not the first since a change, so it reaches the replica.
    await untilServedBy('replica', 20_000).catch(() => undefined);
    queries += 1;
    const pending = gateway.request<Totals, never>(`query Conflict${queries} { dashboard { totalTransactions } }`);
    // Wait until the replica is running it, then take a lock it holds: replay cancels the statement.
    const deadline = Date.now() + 10_000;
    while (
      (
        await replicaSql(
          `SELECT 1 FROM pg_stat_activity WHERE application_name = 'marketpulse' AND state = 'active' AND query LIKE '%dashboard%'`,
        )
      ).length === 0
    ) {
      if (Date.now() > deadline) throw new Error('the replica never ran the statement');
      await sleep(20);
    }
    await primarySql('BEGIN; LOCK TABLE test_query_delay IN ACCESS EXCLUSIVE MODE; COMMIT');
    const response = await pending;
    await setQueryDelay(database.handle, 0);
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data!.dashboard.totalTransactions).toBe(await expectedCount());
    expect(fallbacks.filter((fallback) => fallback.reason === 'conflict').length).toBeGreaterThan(conflictsBefore);
  }, 60_000);

  it('answers every request while the replica is down, degraded but ready, and goes back to it once it is up', async () => {
    await pair.waitForReplay();
    await untilServedBy('replica');
    // Shut down mid-run: a statement running on the replica fails with its session and runs again on the primary.
    await setQueryDelay(database.handle, 1);
    await pair.waitForReplay();
    await untilServedBy('replica', 20_000).catch(() => undefined);
    queries += 1;
    const pending = gateway.request<Totals, never>(`query Cut${queries} { dashboard { totalTransactions } }`);
    const deadline = Date.now() + 10_000;
    while (
      (
        await replicaSql(
          `SELECT 1 FROM pg_stat_activity WHERE application_name = 'marketpulse' AND state = 'active' AND query LIKE '%dashboard%'`,
        )
      ).length === 0
    ) {
      if (Date.now() > deadline) throw new Error('the replica never ran the statement');
      await sleep(20);
    }
    await pair.stopReplica();
    try {
      const cut = await pending;
      expect(cut.body.errors).toBeUndefined();
      expect(cut.body.data!.dashboard.totalTransactions).toBe(await expectedCount());
      expect(fallbacks.some((fallback) => fallback.reason === 'unreachable')).toBe(true);
      await setQueryDelay(database.handle, 0);

      for (let i = 0; i < 5; i++) {
        const answer = await freshTotals();
        expect(answer.data.totalTransactions).toBe(await expectedCount());
        expect(answer.targets.every((target) => target === 'primary')).toBe(true);
      }
      const version = changes.version;
      await insertTransaction('13.00');
      await waitForVersionAfter(version);
      expect((await freshTotals()).data.totalTransactions).toBe(await expectedCount());

      const ready = await readiness();
      expect(ready.status).toBe(200);
      expect(ready.body.status).toBe('degraded');
      expect(ready.body.replicas).toEqual([
        { name: replicaName(replicaUrl), state: 'down', reason: expect.any(String) },
      ]);
    } finally {
      await pair.startReplica();
    }
    await pair.waitForReplay();
    const back = await untilServedBy('replica', 20_000);
    expect(back.data.totalTransactions).toBe(await expectedCount());
    expect((await readiness()).body.status).toBe('ready');
  }, 90_000);

  describe('the gateway process (NODE_ENV=production)', () => {
    let child: GatewayProcess;

    afterAll(async () => {
      await child?.kill();
    });

    it('reads from DATABASE_READ_URL, counts reads per target in /metrics, and stays ready while the replica is down', async () => {
      child = await startGatewayProcess({
        NODE_ENV: 'production',
        DATABASE_URL: database.url!,
        DATABASE_READ_URL: replicaUrl,
        REPORT_TIMEZONE: 'UTC',
      });
      const graphql = async (name: string) => {
        const response = await fetch(`${child.base}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: `query ${name} { dashboard { totalTransactions } }` }),
        });
        return { status: response.status, body: (await response.json()) as { data?: Totals; errors?: unknown[] } };
      };
      const metrics = async () => parsePrometheus(await (await fetch(`${child.base}/metrics`)).text());
      const name = replicaName(replicaUrl);

      const deadline = Date.now() + 15_000;
      let n = 0;
      while (
        valueOf(await metrics(), 'marketpulse_db_read_statements_total', { target: 'replica', replica: name }) === 0
      ) {
        if (Date.now() > deadline) throw new Error('no read reached the replica');
        const answer = await graphql(`Process${(n += 1)}`);
        expect(answer.body.data!.dashboard.totalTransactions).toBe(await expectedCount());
        await sleep(20);
      }
      const samples = await metrics();
      expect(valueOf(samples, 'marketpulse_db_replica_up', { replica: name })).toBe(1);
      expect(valueOf(samples, 'marketpulse_db_replica_lag_bytes', { replica: name })).toBeGreaterThanOrEqual(0);
      expect(samples.some((sample) => sample.name === 'marketpulse_db_replica_lag_seconds')).toBe(true);
      const ready = await fetch(`${child.base}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', replicas: [{ name, state: 'up' }] });

      await pair.stopReplica();
      try {
        for (let i = 0; i < 5; i++) {
          const answer = await graphql(`Down${i}`);
          expect(answer.status).toBe(200);
          expect(answer.body.data!.dashboard.totalTransactions).toBe(await expectedCount());
        }
        const degraded = await fetch(`${child.base}/readyz`);
        expect(degraded.status).toBe(200);
        expect(await degraded.json()).toMatchObject({ status: 'degraded', replicas: [{ name, state: 'down' }] });
        const down = await metrics();
        expect(valueOf(down, 'marketpulse_db_replica_up', { replica: name })).toBe(0);
        expect(
          valueOf(down, 'marketpulse_db_read_statements_total', { target: 'primary', replica: '' }),
        ).toBeGreaterThan(0);
      } finally {
        await pair.startReplica();
      }
    }, 120_000);
  });
});
