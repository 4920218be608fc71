import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { sql } from 'kysely';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import {
  connect,
  DASHBOARD_TOTALS,
  expectedTotals,
  insertTransaction,
  RawSocket,
  Received,
  seedCatalogue,
  UpgradeRefused,
  type TotalsMessage,
} from '../subscriptions/subscription-fixtures.js';
import { describeWhereAvailable } from '../support/availability.js';
import { waitFor } from '../support/child-processes.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { environmentOf, interpolateUnset, parseCompose, readRepoFile, serviceOf } from './compose-file.js';
import { haproxyUnavailable, haproxyVersion, startHaproxy, type HaproxyProcess } from './haproxy-process.js';
import { redisUrl, removeKeys } from '../support/gateway-with-cache.js';

// deploy/haproxy.cfg run by a real HAProxy in front of two gateway processes started the production way with the
// environment docker-compose.yml gives the scaled gateways. Only addresses differ from the compose stack: the
// balancer listens on a free port of 127.0.0.1 and the gateways on theirs, so the gateways trust 127.0.0.1, and
// clients come from 127.0.0.2 to be told apart from the balancer.

const CLIENT_ADDRESS = '127.0.0.2';
const noDatabase = inject('databaseUrl') ? undefined : 'no real PostgreSQL for the gateway processes';

const compose = parseCompose(readRepoFile('docker-compose.yml'));
const scaledEnvironment = Object.fromEntries(
  Object.entries(environmentOf(serviceOf(compose, 'gateway-1'))).map(([name, value]) => [
    name,
    interpolateUnset(value),
  ]),
);
const SHUTDOWN_DELAY_MS = Number(scaledEnvironment.SHUTDOWN_DELAY_MS);
const KEEPALIVE_MS = Number(scaledEnvironment.SUBSCRIPTION_KEEPALIVE_MS);
const BODY_LIMIT_BYTES = Number(scaledEnvironment.BODY_LIMIT_BYTES);

const MARCH = { from: '2025-03-01', to: '2025-03-31' };
const COUNT = JSON.stringify({ query: 'query Count { dashboard { totalTransactions } }' });
const CUSTOMERS_PAGE =
  'query Page($after: String) { customers(first: 1, after: $after) { edges { node { id } } pageInfo { endCursor } } }';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** One HTTP request from `localAddress`, so that the gateways can tell the client from the balancer. */
function request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; localAddress?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const sent = http.request(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        localAddress: options.localAddress ?? CLIENT_ADDRESS,
        agent: false,
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text }));
        response.on('error', reject);
      },
    );
    sent.on('error', reject);
    sent.end(options.body);
  });
}

const postJson = (url: string, payload: object | string, headers: Record<string, string> = {}) =>
  request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });

/** How many GraphQL requests a gateway has logged answering. */
const graphqlRequestsOf = (gateway: GatewayProcess) =>
  gateway.logs.filter((entry) => entry.msg === 'request' && entry.url === '/graphql').length;

/** A gateway's own figure, read from its /metrics directly (not through the balancer, which refuses it). */
async function gaugeOf(gateway: GatewayProcess, metric: string): Promise<number> {
  const text = await (await fetch(`${gateway.base}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${metric} `));
  return Number(line?.split(' ')[1] ?? Number.NaN);
}

describeWhereAvailable(haproxyUnavailable() ?? noDatabase)(
  'deploy/haproxy.cfg in front of two gateway processes',
  () => {
    const prefix = `mp-test:load-balancer:${randomBytes(4).toString('hex')}:`;
    let database: TestDatabase;
    let gateways: Record<'gateway-1' | 'gateway-2', GatewayProcess>;
    let balancer: HaproxyProcess;
    const clients: Client[] = [];

    const hostPort = (gateway: GatewayProcess) => new URL(gateway.base).host;

    beforeAll(async () => {
      database = await createTestDatabase();
      await seedCatalogue(database.handle);
      await insertTransaction(database.handle, { amount: '10.00', date: '2025-03-10T12:00:00Z' });
      const env = {
        ...scaledEnvironment,
        DATABASE_URL: database.url!,
        REDIS_URL: redisUrl,
        TRUST_PROXY: '127.0.0.1',
        CACHE_KEY_PREFIX: prefix,
        // Every request of this file comes from one client address: a budget no test spends.
        RATE_LIMIT_POINTS: '1000000',
      };
      const [one, two] = await Promise.all([startGatewayProcess(env), startGatewayProcess(env)]);
      gateways = { 'gateway-1': one, 'gateway-2': two };
      balancer = await startHaproxy(readRepoFile('deploy/haproxy.cfg'), {
        'gateway-1': hostPort(one),
        'gateway-2': hostPort(two),
      });
      console.log(`HAProxy ${haproxyVersion()} on ${balancer.base}, gateways on ${one.base} and ${two.base}`);
      // Until both gateways have answered through the balancer, a test cannot tell where a request will go.
      await waitFor(
        'both gateways to answer through the balancer',
        async () => {
          const reply = await postJson(`${balancer.base}/graphql`, COUNT);
          if (reply.status !== 200) throw new Error(`HTTP ${reply.status}: ${reply.text}`);
          return graphqlRequestsOf(one) > 0 && graphqlRequestsOf(two) > 0;
        },
        { timeoutMs: 20_000, explain: () => balancer.output.tail() },
      );
    }, 120_000);

    afterAll(async () => {
      await Promise.all(clients.map(async (client) => client.dispose()));
      await balancer?.stop();
      await Promise.all(Object.values(gateways ?? {}).map((gateway) => gateway.kill()));
      await database?.drop();
      await removeKeys(prefix);
    });

    it('spreads queries over both gateways and answers what plain SQL counts', async () => {
      const { totalTransactions } = await expectedTotals(database.handle, '2000-01-01', '2100-01-01');
      const ids = Array.from({ length: 10 }, (_, i) => `spread-${i}-${randomBytes(4).toString('hex')}`);
      for (const id of ids) {
        const reply = await postJson(`${balancer.base}/graphql`, COUNT, { 'x-request-id': id });
        expect(reply.status, reply.text).toBe(200);
        expect((JSON.parse(reply.text) as { data?: unknown }).data).toEqual({ dashboard: { totalTransactions } });
      }
      // A gateway logs a request once it has answered it: the last lines may come a moment after the answers.
      const servedBy = (gateway: GatewayProcess) =>
        gateway.logs.filter((entry) => ids.includes(String(entry.requestId)) && entry.msg === 'request').length;
      const served = await waitFor('every request in a gateway log', async () => {
        const counts = Object.values(gateways).map(servedBy);
        return counts[0]! + counts[1]! === ids.length && counts;
      });
      expect(Math.min(...served)).toBeGreaterThanOrEqual(3);
    });

    it('answers /healthz itself, and refuses /metrics and an oversized body before any gateway sees them', async () => {
      const before = Object.values(gateways).map((gateway) => gateway.logs.length);
      const health = await request(`${balancer.base}/healthz`);
      expect(health.status).toBe(200);
      expect((await request(`${balancer.base}/metrics`)).status).toBe(404);
      expect((await request(`${balancer.base}/%6detrics`)).status).toBe(404);
      const oversized = await postJson(
        `${balancer.base}/graphql`,
        JSON.stringify({ query: '{ dashboard { totalTransactions } }', padding: 'x'.repeat(BODY_LIMIT_BYTES) }),
      );
      expect(oversized.status).toBe(413);
      // HAProxy's own page, not the gateway's JSON.
      expect(oversized.headers['content-type']).toMatch(/text\/html/);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const logged = Object.values(gateways).flatMap((gateway, i) => gateway.logs.slice(before[i]));
      const reached = logged.filter(
        (entry) => entry.msg === 'request' && (/healthz|etrics/.test(String(entry.url)) || entry.status === 413),
      );
      expect(reached).toEqual([]);
      // In HAProxy's own log they ended in the frontend, with no gateway chosen (it does not log /healthz).
      const refusedHere = balancer.requestLines
        .map((line) => / graphql\/<NOSRV> \S+ (\d{3}) /.exec(line)?.[1])
        .filter(Boolean);
      expect(refusedHere).toEqual(['404', '404', '413']);
    });

    it("hands the gateways the client's address, not the X-Forwarded-For the client sent", async () => {
      const requestId = `lb-${randomBytes(6).toString('hex')}`;
      const reply = await postJson(
        `${balancer.base}/graphql`,
        { query: CUSTOMERS_PAGE },
        { 'x-request-id': requestId, 'x-forwarded-for': '203.0.113.9' },
      );
      expect(reply.status, reply.text).toBe(200);
      expect(reply.headers['x-request-id']).toBe(requestId);
      // The audit trail records who read customers, from where; written within AUDIT_FLUSH_INTERVAL_MS.
      const clientIp = await waitFor('the audit entry', async () => {
        const { rows } = await sql<{
          client_ip: string;
        }>`SELECT client_ip FROM audit_log WHERE request_id = ${requestId}`.execute(database.handle.db);
        return rows[0]?.client_ip;
      });
      expect(clientIp).toBe(CLIENT_ADDRESS);
    });

    it('refuses a WebSocket from a page of another origin, even one the client names in X-Forwarded-Host or -Proto', async () => {
      const url = `ws://127.0.0.1:${balancer.port}/graphql`;
      const own = await RawSocket.open(url, { headers: { origin: balancer.base } });
      own.close();
      const claims: Record<string, string>[] = [
        { origin: 'http://dashboards.evil.example', 'x-forwarded-host': 'dashboards.evil.example' },
        { origin: `https://127.0.0.1:${balancer.port}`, 'x-forwarded-proto': 'https' },
      ];
      for (const headers of claims) {
        const refused = await RawSocket.open(url, { headers }).then(
          (socket) => {
            socket.close();
            return undefined;
          },
          (error: unknown) => error,
        );
        expect(refused, JSON.stringify(headers)).toBeInstanceOf(UpgradeRefused);
        expect((refused as UpgradeRefused).status).toBe(403);
      }
    });

    it('continues a cursor made on one gateway on the other (one CURSOR_SECRET)', async () => {
      type Page = {
        data?: { customers: { edges: { node: { id: string } }[]; pageInfo: { endCursor: string } } };
        errors?: unknown;
      };
      const first = JSON.parse(
        (await postJson(`${gateways['gateway-1'].base}/graphql`, { query: CUSTOMERS_PAGE })).text,
      ) as Page;
      expect(first.errors).toBeUndefined();
      const after = first.data!.customers.pageInfo.endCursor;
      const second = JSON.parse(
        (await postJson(`${gateways['gateway-2'].base}/graphql`, { query: CUSTOMERS_PAGE, variables: { after } })).text,
      ) as Page;
      expect(second.errors).toBeUndefined();
      expect(second.data!.customers.edges).toHaveLength(1);
      expect(second.data!.customers.edges[0]!.node.id).not.toBe(first.data!.customers.edges[0]!.node.id);
    });

    it(
      'keeps a subscription open through the balancer past a keepalive period of silence, and pushes the next write',
      async () => {
        const client = connect(`ws://127.0.0.1:${balancer.port}/graphql`);
        clients.push(client);
        const totals = new Received<TotalsMessage>(client, DASHBOARD_TOTALS, MARCH);
        await totals.waitForResults(1);
        await new Promise((resolve) => setTimeout(resolve, KEEPALIVE_MS + 2_000));
        expect(client.closes).toEqual([]);
        await insertTransaction(database.handle, { amount: '5.00', date: '2025-03-11T12:00:00Z' });
        await totals.waitForResults(2);
        expect(totals.last?.dashboardUpdated).toEqual(await expectedTotals(database.handle, MARCH.from, MARCH.to));
        expect(client.closes).toEqual([]);
        totals.dispose();
        await client.dispose();
      },
      KEEPALIVE_MS + 30_000,
    );

    it('drains a gateway on SIGTERM: out of rotation within SHUTDOWN_DELAY_MS, no request fails, its subscriber moves over', async () => {
      // A subscriber that reconnects, as graphql-ws clients do when a gateway goes away (close code 1001).
      const client = createClient({
        url: `ws://127.0.0.1:${balancer.port}/graphql`,
        webSocketImpl: WebSocket,
        lazy: false,
        retryAttempts: 10,
        retryWait: () => new Promise((resolve) => setTimeout(resolve, 200)),
        shouldRetry: () => true,
        onNonLazyError: () => undefined,
      });
      clients.push(client);
      const totals = new Received<TotalsMessage>(client, DASHBOARD_TOTALS, MARCH);
      await totals.waitForResults(1);
      // The gateway holding the subscriber's socket is the one stopped.
      const sockets = await Promise.all(
        Object.values(gateways).map((gateway) => gaugeOf(gateway, 'marketpulse_subscription_sockets_open')),
      );
      const [victimName, survivorName] =
        sockets[0]! >= 1 ? (['gateway-1', 'gateway-2'] as const) : (['gateway-2', 'gateway-1'] as const);
      const victim = gateways[victimName];
      const survivor = gateways[survivorName];
      expect(await gaugeOf(victim, 'marketpulse_subscription_sockets_open')).toBe(1);

      let loading = true;
      const outcomes: { at: number; ok: boolean; detail: string }[] = [];
      const worker = async () => {
        while (loading) {
          const at = performance.now();
          try {
            const reply = await postJson(`${balancer.base}/graphql`, COUNT);
            const ok = reply.status === 200 && !('errors' in (JSON.parse(reply.text) as object));
            outcomes.push({ at, ok, detail: ok ? '' : `HTTP ${reply.status}: ${reply.text.slice(0, 200)}` });
          } catch (error) {
            outcomes.push({ at, ok: false, detail: String(error) });
          }
        }
      };
      const workers = Array.from({ length: 4 }, worker);
      await new Promise((resolve) => setTimeout(resolve, 500));

      const victimBefore = graphqlRequestsOf(victim);
      const signalled = performance.now();
      process.kill(victim.child.pid!, 'SIGTERM');
      const exitCode = await victim.exited;
      const exitedAfter = performance.now() - signalled;
      const victimDuringDrain = graphqlRequestsOf(victim) - victimBefore;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      loading = false;
      await Promise.all(workers);

      const down = balancer.stateChanges.find(
        (change) => change.server === victimName && change.state === 'DOWN' && change.at > signalled,
      );
      const failed = outcomes.filter((outcome) => !outcome.ok);
      console.log(
        `drain of ${victimName} (SHUTDOWN_DELAY_MS=${SHUTDOWN_DELAY_MS}): marked DOWN by HAProxy ${down ? Math.round(down.at - signalled) : '-'} ms after SIGTERM, ` +
          `exited ${Math.round(exitedAfter)} ms after it; ${outcomes.length} requests through the balancer, ${failed.length} failed, ` +
          `${victimDuringDrain} answered by ${victimName} after the signal`,
      );
      expect(failed).toEqual([]);
      expect(exitCode).toBe(0);
      expect(down, balancer.output.tail()).toBeDefined();
      expect(down!.at - signalled).toBeLessThan(SHUTDOWN_DELAY_MS);
      expect(outcomes.filter((outcome) => outcome.at > signalled).length).toBeGreaterThan(20);

      // The subscriber was cut by the stopping gateway, came back through the balancer to the other one, and hears
      // the next write there.
      await waitFor(
        'the subscriber on the other gateway',
        async () => (await gaugeOf(survivor, 'marketpulse_subscription_sockets_open')) === 1,
      );
      const before = totals.results.length;
      await insertTransaction(database.handle, { amount: '7.00', date: '2025-03-12T12:00:00Z' });
      const expected = await expectedTotals(database.handle, MARCH.from, MARCH.to);
      await totals.until(
        () =>
          totals.results
            .slice(before)
            .some((result) => result.data?.dashboardUpdated.totalTransactions === expected.totalTransactions),
        10_000,
        'the figures after the write',
      );
      expect(totals.last?.dashboardUpdated).toEqual(expected);
      totals.dispose();
      await client.dispose();
    }, 60_000);

    it('answers its own /healthz with no gateway left, and /readyz with 503', async () => {
      const stopping = Object.values(gateways).filter((gateway) => gateway.child.exitCode === null);
      for (const gateway of stopping) process.kill(gateway.child.pid!, 'SIGTERM');
      await Promise.all(stopping.map((gateway) => gateway.exited));
      expect((await request(`${balancer.base}/healthz`)).status).toBe(200);
      expect((await request(`${balancer.base}/readyz`)).status).toBe(503);
    }, 30_000);
  },
);
