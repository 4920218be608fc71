import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { sql } from 'kysely';
import pg from 'pg';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import type { CacheFreshness } from '../../src/cache/response-cache.js';
import { countKeys, redisUrl, removeKeys } from '../support/gateway-with-cache.js';
import {
  connect,
  DASHBOARD_TOTALS,
  expectedTotals,
  insertTransaction,
  Received,
  seedCatalogue,
  type TotalsMessage,
} from '../subscriptions/subscription-fixtures.js';
import { describeWhereAvailable } from '../support/availability.js';
import { waitFor } from '../support/child-processes.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';

// Two gateway processes started the production way on one PostgreSQL database and one Redis (a key prefix of
// this file's own): what a client does on one holds on the other, from the moment both serve. Writes are made
// with plain SQL, as any client of the database may make them.

const noDatabase = inject('databaseUrl') ? undefined : 'no real PostgreSQL for the gateway processes';
const noRedis = redisUrl ? undefined : 'no Redis for the gateway processes';

const MARCH = { from: '2025-03-01', to: '2025-03-31' };
const TOTALS_QUERY =
  'query Totals($from: Date, $to: Date) { dashboard(from: $from, to: $to) { totalRevenue totalTransactions } }';
// All of March is every transaction this file writes.
const COUNTS_QUERY =
  'query Counts($from: Date, $to: Date) { products(first: 1) { totalCount } dashboard(from: $from, to: $to) { totalTransactions } }';
const CUSTOMERS_PAGE =
  'query Page($first: Int!, $after: String) { customers(first: $first, after: $after) { edges { cursor node { id name } } pageInfo { endCursor hasNextPage } } }';
// Every test file's budget is its own (the key prefix); within the file, each test that spends it comes from an
// address of its own, since the budget is per client.
const RATE_LIMIT_POINTS = 200;

interface Reply<T = unknown> {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: {
    data?: T;
    errors?: { message: string; extensions?: { code?: string } }[];
    extensions?: { cache?: CacheFreshness };
  };
}

/** POSTs a GraphQL request from `from` (a loopback address), so that rate budgets can be told apart. */
function post<T = unknown>(gateway: GatewayProcess, payload: object, from = '127.0.0.1'): Promise<Reply<T>> {
  return new Promise((resolve, reject) => {
    const sent = http.request(
      `${gateway.base}/graphql`,
      { method: 'POST', headers: { 'content-type': 'application/json' }, localAddress: from, agent: false },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          try {
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              body: JSON.parse(text) as Reply<T>['body'],
            });
          } catch {
            reject(new Error(`HTTP ${response.statusCode}, not JSON: ${text.slice(0, 300)}`));
          }
        });
        response.on('error', reject);
      },
    );
    sent.on('error', reject);
    sent.end(JSON.stringify(payload));
  });
}

type Totals = { dashboard: { totalRevenue: string; totalTransactions: number } };
type Counts = { products: { totalCount: number }; dashboard: { totalTransactions: number } };
const countsOf = (products: number, transactions: number): Counts => ({
  products: { totalCount: products },
  dashboard: { totalTransactions: transactions },
});

describeWhereAvailable(noDatabase ?? noRedis)('several gateways on one PostgreSQL and one Redis', () => {
  const prefix = `mp-test:several-gateways:${randomBytes(4).toString('hex')}:`;
  let database: TestDatabase;
  let one: GatewayProcess;
  let two: GatewayProcess;
  const clients: Client[] = [];
  let env: Record<string, string>;
  const more: GatewayProcess[] = [];

  const versionOfDatabase = async () => {
    const { rows } = await sql<{ version: string }>`SELECT mp_data_version()::text AS version`.execute(
      database.handle.db,
    );
    return rows[0]!.version;
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    await seedCatalogue(database.handle);
    await insertTransaction(database.handle, { amount: '10.00', date: '2025-03-10T12:00:00Z' });
    env = {
      NODE_ENV: 'production',
      DATABASE_URL: database.url!,
      REDIS_URL: redisUrl,
      CACHE_KEY_PREFIX: prefix,
      CACHE_TTL_SECONDS: '600',
      // One secret for all gateways, so that a cursor signed by one is good on the other.
      CURSOR_SECRET: randomBytes(24).toString('hex'),
      RATE_LIMIT_POINTS: String(RATE_LIMIT_POINTS),
      RATE_LIMIT_WINDOW_SECONDS: '3600',
      // Above the default of 100 ms, so that a command slowed by a loaded machine is not taken for an outage.
      REDIS_COMMAND_TIMEOUT_MS: '500',
    };
    [one, two] = await Promise.all([startGatewayProcess(env), startGatewayProcess(env)]);
  });

  afterAll(async () => {
    await Promise.all(clients.map(async (client) => client.dispose()));
    await Promise.all([one?.kill(), two?.kill(), ...more.map((gateway) => gateway.kill())]);
    await database?.drop();
    await removeKeys(prefix);
  });

  it('answers on one gateway from what the other cached, under the same data version, right after both start', async () => {
    const version = await versionOfDatabase();
    // A gateway serves as soon as it listens, and from the cache once it has read the version after that (a
    // moment later); each logs that read, with the version it vouches for: the database's, no key of its own.
    for (const gateway of [one, two]) {
      const listening = await waitFor('the gateway to listen', async () =>
        gateway.logs.find((entry) => entry.msg === 'listening for data changes'),
      );
      expect(listening.dataVersion).toBe(version);
    }
    const payload = { query: TOTALS_QUERY, variables: MARCH };
    const computed = await post<Totals>(one, payload, '127.0.0.11');
    expect(computed.body.errors).toBeUndefined();
    expect(computed.headers['x-cache']).toBe('MISS');
    expect(computed.body.extensions?.cache).toEqual({ hit: false, ageSeconds: 0, dataVersion: version });
    // The answer is stored in Redis a moment after it is sent.
    const started = performance.now();
    while ((await countKeys(`${prefix}fqc:`)) === 0 && performance.now() - started < 5_000)
      await new Promise((resolve) => setTimeout(resolve, 20));

    const shared = await post<Totals>(two, payload, '127.0.0.11');
    expect(shared.headers['x-cache']).toBe('HIT');
    expect(shared.body.extensions?.cache).toMatchObject({ hit: true, dataVersion: version });
    expect(shared.body.data).toEqual(computed.body.data);
    expect(shared.body.data?.dashboard.totalRevenue).toBe(
      (await expectedTotals(database.handle, MARCH.from, MARCH.to)).totalRevenue,
    );
  });

  it('shows a write made with plain SQL on both gateways within a second, and shares the new answer', async () => {
    const payload = { query: TOTALS_QUERY, variables: MARCH };
    const before = await post<Totals>(one, payload, '127.0.0.12');
    await post<Totals>(two, payload, '127.0.0.12');
    await insertTransaction(database.handle, { amount: '2.50', date: '2025-03-11T12:00:00Z' });
    const written = performance.now();
    const expected = await expectedTotals(database.handle, MARCH.from, MARCH.to);
    expect(expected.totalRevenue).not.toBe(before.body.data?.dashboard.totalRevenue);

    const seen = await Promise.all(
      [one, two].map(async (gateway) => {
        for (;;) {
          const reply = await post<Totals>(gateway, payload, '127.0.0.12');
          const afterMs = performance.now() - written;
          if (reply.body.data?.dashboard.totalRevenue === expected.totalRevenue || afterMs > 3_000)
            return { reply, afterMs };
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }),
    );
    console.log(
      `a plain SQL write seen by the two gateways after ${seen.map(({ afterMs }) => Math.round(afterMs)).join(' and ')} ms`,
    );
    for (const { reply, afterMs } of seen) {
      expect(reply.body.data?.dashboard).toEqual({
        totalRevenue: expected.totalRevenue,
        totalTransactions: expected.totalTransactions,
      });
      expect(afterMs).toBeLessThan(1_000);
    }
    // Both key by the database's new version, and one answers from what the other cached there.
    const version = await versionOfDatabase();
    const again = await Promise.all([one, two].map((gateway) => post<Totals>(gateway, payload, '127.0.0.12')));
    expect(again.map((reply) => reply.body.extensions?.cache?.dataVersion)).toEqual([version, version]);
    expect(again.some((reply) => reply.body.extensions?.cache?.hit)).toBe(true);
  });

  it('pushes a subscription held on either gateway after a write made with plain SQL', async () => {
    const held = [one, two].map((gateway) => {
      const client = connect(`${gateway.base.replace('http:', 'ws:')}/graphql`);
      clients.push(client);
      return new Received<TotalsMessage>(client, DASHBOARD_TOTALS, MARCH);
    });
    await Promise.all(held.map((totals) => totals.waitForResults(1)));
    await insertTransaction(database.handle, { amount: '4.00', date: '2025-03-12T12:00:00Z' });
    const expected = await expectedTotals(database.handle, MARCH.from, MARCH.to);
    for (const totals of held) {
      await totals.until(
        () => totals.last?.dashboardUpdated.totalTransactions === expected.totalTransactions,
        5_000,
        'the figures after the write',
      );
      expect(totals.last?.dashboardUpdated).toEqual(expected);
      totals.dispose();
    }
  });

  it('keys alike while a transaction that took a lower version is open, and never by the plain version before it commits', async () => {
    const client = '127.0.0.17';
    const payload = { query: COUNTS_QUERY, variables: MARCH };
    const counted = async () => {
      const { rows } = await sql<{ products: number; transactions: number }>`
        SELECT (SELECT count(*) FROM products)::int AS products, (SELECT count(*) FROM transactions)::int AS transactions`.execute(
        database.handle.db,
      );
      return rows[0]!;
    };
    const before = await counted();
    const slow = new pg.Client({ connectionString: database.url });
    await slow.connect();
    try {
      await slow.query('BEGIN');
      // A product: a sale would hold rollup rows that the quick writer's sale then waits for.
      await slow.query(
        `INSERT INTO products (id, sku, name, category, unit_price) VALUES (900001, 'SLOW-1', 'מוצר איטי', 'בדיקות', 100.00)`,
      );
      const slowVersion = BigInt(
        (await slow.query<{ v: string }>(`SELECT currval('data_version_seq')::text AS v`)).rows[0]!.v,
      );
      await insertTransaction(database.handle, { amount: '1.00', date: '2025-03-13T12:00:00Z' });
      const latest = await versionOfDatabase();
      const lacking = `${slowVersion - 1n}+${latest}`;
      const seen: string[] = [];
      const answerOf = async (gateway: GatewayProcess, accept: (reply: Reply<Counts>) => boolean) => {
        const started = performance.now();
        for (;;) {
          const reply = await post<Counts>(gateway, payload, client);
          seen.push(String(reply.body.extensions?.cache?.dataVersion));
          if (accept(reply) || performance.now() - started > 3_000)
            return { reply, afterMs: performance.now() - started };
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      // Both see the short writer's row, under a key that says the slow writer's version has not ended ...
      for (const gateway of [one, two]) {
        const { reply } = await answerOf(
          gateway,
          (candidate) => candidate.body.extensions?.cache?.dataVersion === lacking,
        );
        expect(reply.body.extensions?.cache?.dataVersion).toBe(lacking);
        expect(reply.body.data).toEqual(countsOf(before.products, before.transactions + 1));
      }
      // ... and share answers under it.
      expect((await post<Counts>(two, payload, client)).body.extensions?.cache).toMatchObject({
        hit: true,
        dataVersion: lacking,
      });
      // A gateway started now cannot know whether a version below the latest committed before it listened.
      const late = await startGatewayProcess(env);
      more.push(late);
      // It serves before it has read the version (and serves nothing cached until then): its log tells when.
      const listening = await waitFor('the late gateway to listen', async () =>
        late.logs.find((entry) => entry.msg === 'listening for data changes'),
      );
      expect(listening.dataVersion).toMatch(new RegExp(`^${slowVersion - 1n}@[0-9a-f]{6}\\.0$`));
      const own = await post<Counts>(late, payload, client);
      expect(own.body.extensions?.cache?.hit).toBe(false);
      expect(own.body.data).toEqual(countsOf(before.products, before.transactions + 1));

      await slow.query('COMMIT');
      expect(await counted()).toEqual({ products: before.products + 1, transactions: before.transactions + 1 });
      for (const gateway of [one, two, late]) {
        const { reply, afterMs } = await answerOf(
          gateway,
          (candidate) => candidate.body.extensions?.cache?.dataVersion === latest,
        );
        expect(reply.body.extensions?.cache?.dataVersion).toBe(latest);
        expect(reply.body.data).toEqual(countsOf(before.products + 1, before.transactions + 1));
        expect(afterMs).toBeLessThan(1_000);
      }
      // Before the commit no gateway answered under the plain latest version.
      expect(seen.indexOf(latest)).toBeGreaterThan(seen.lastIndexOf(lacking));
      expect((await post<Counts>(late, payload, client)).body.extensions?.cache).toMatchObject({
        hit: true,
        dataVersion: latest,
      });
    } finally {
      await slow.end();
    }
  });

  it("draws a client's rate budget from one pool on both gateways", async () => {
    const client = '127.0.0.13';
    const payload = { query: TOTALS_QUERY, variables: MARCH };
    const remaining = (reply: Reply) => Number(reply.headers['ratelimit-remaining']);
    // Once the answer is cached, each request costs the same: two on one gateway tell the price, and the other
    // gateway's answer to the third shows the budget both of them took it from.
    await post<Totals>(one, payload, client);
    const hit = await post<Totals>(one, payload, client);
    const again = await post<Totals>(one, payload, client);
    expect([hit.headers['x-cache'], again.headers['x-cache']]).toEqual(['HIT', 'HIT']);
    const cost = remaining(hit) - remaining(again);
    expect(cost).toBeGreaterThan(0);
    const onTheOther = await post<Totals>(two, payload, client);
    expect(onTheOther.headers['x-cache']).toBe('HIT');
    expect(remaining(onTheOther)).toBe(remaining(again) - cost);

    // Spent on one gateway, the budget is spent on the other.
    let spent: Reply<Totals> | undefined;
    for (let i = 0; i < Math.ceil(RATE_LIMIT_POINTS / cost) + 1; i++) {
      spent = await post<Totals>(one, payload, client);
      if (spent.status === 429) break;
    }
    expect(spent?.status).toBe(429);
    const refused = await post<Totals>(two, payload, client);
    expect(refused.status).toBe(429);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // Another client's budget is untouched.
    expect((await post<Totals>(two, payload, '127.0.0.14')).status).toBe(200);
  });

  it('pages on one gateway with a cursor made on the other', async () => {
    await sql`INSERT INTO customers (id, name, created_at)
              SELECT 100 + n, 'לקוח ' || n, '2025-01-02T00:00:00Z' FROM generate_series(1, 5) AS n`.execute(
      database.handle.db,
    );
    type Page = {
      customers: {
        edges: { cursor: string; node: { id: string; name: string } }[];
        pageInfo: { endCursor: string; hasNextPage: boolean };
      };
    };
    const whole = await post<Page>(one, { query: CUSTOMERS_PAGE, variables: { first: 4 } }, '127.0.0.15');
    expect(whole.body.errors).toBeUndefined();
    const nodes = whole.body.data!.customers.edges.map((edge) => edge.node);
    expect(nodes).toHaveLength(4);
    const firstPage = await post<Page>(one, { query: CUSTOMERS_PAGE, variables: { first: 2 } }, '127.0.0.15');
    const onTheOther = await post<Page>(
      two,
      { query: CUSTOMERS_PAGE, variables: { first: 2, after: firstPage.body.data!.customers.pageInfo.endCursor } },
      '127.0.0.15',
    );
    expect(onTheOther.body.errors).toBeUndefined();
    expect(onTheOther.body.data!.customers.edges.map((edge) => edge.node)).toEqual(nodes.slice(2, 4));
    // And back: the other gateway's cursor pages on the first one.
    const back = await post<Page>(
      one,
      { query: CUSTOMERS_PAGE, variables: { first: 1, after: onTheOther.body.data!.customers.edges[0]!.cursor } },
      '127.0.0.15',
    );
    expect(back.body.data!.customers.edges.map((edge) => edge.node)).toEqual(nodes.slice(3, 4));
  });

  it('finds on one gateway a persisted query registered on the other', async () => {
    const query = `query Persisted${randomBytes(4).toString('hex')} { dashboard { totalTransactions } }`;
    const sha256Hash = createHash('sha256').update(query).digest('hex');
    const extensions = { persistedQuery: { version: 1, sha256Hash } };
    const unknown = await post(two, { extensions }, '127.0.0.16');
    expect(unknown.body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');

    const registered = await post<{ dashboard: { totalTransactions: number } }>(
      one,
      { query, extensions },
      '127.0.0.16',
    );
    expect(registered.body.errors).toBeUndefined();
    const found = await post<{ dashboard: { totalTransactions: number } }>(two, { extensions }, '127.0.0.16');
    expect(found.status).toBe(200);
    expect(found.body.errors).toBeUndefined();
    expect(found.body.data).toEqual(registered.body.data);
  });
});
