import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, revokeApiKey } from '../../src/auth/api-key.repository.js';
import { authConfig, signToken } from '../auth/auth-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import {
  DASHBOARD_TOTALS,
  Received,
  connect,
  eventually,
  sleep,
  insertTransaction,
  seedCatalogue,
  startLiveGateway,
  type LiveGateway,
  type TotalsMessage,
} from './subscription-fixtures.js';

// Sockets authenticate like requests, and subscriptions pass the same roles and limits as queries.

const TOP_CUSTOMERS = `subscription TopCustomers {
  dashboardUpdated(from: "2025-03-01", to: "2025-03-31") {
    totalRevenue
    topProducts(limit: 1) { product { name topCustomers(limit: 1) { name } } }
  }
}`;

type TopCustomersMessage = {
  dashboardUpdated: {
    totalRevenue: string;
    topProducts: { product: { name: string; topCustomers: { name: string }[] } }[];
  };
};

let database: TestDatabase;
let gateway: LiveGateway;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  await seedCatalogue(database.handle);
  await insertTransaction(database.handle, { amount: '80.00', date: '2025-03-05T10:00:00Z' });
  gateway = await startLiveGateway(database.handle, { ...authConfig, QUERY_MAX_COST: 200, QUERY_MAX_DEPTH: 5 });
});

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

afterAll(async () => {
  await gateway?.close();
  await database?.drop();
});

async function client(role?: string) {
  const params = role ? { authorization: `Bearer ${await signToken({ role })}` } : undefined;
  const opened = connect(gateway.url, params);
  cleanups.push(() => void opened.dispose());
  return opened;
}

describe('subscriptions with AUTH_MODE=required', () => {
  it('closes a socket without credentials with 4401 and serves it nothing', async () => {
    const anonymous = await client();
    const received = new Received<TotalsMessage>(anonymous, DASHBOARD_TOTALS);
    await received.ended();
    expect(received.results).toEqual([]);
    expect(received.closeEvent?.code).toBe(4401);
    expect(received.closeEvent?.reason).toMatch(/Authentication required/);
  });

  it('closes a socket with an invalid token with 4401', async () => {
    const forged = connect(gateway.url, {
      authorization: `Bearer ${await signToken({ secret: 'another-secret-of-enough-length-0123456789' })}`,
    });
    cleanups.push(() => void forged.dispose());
    const received = new Received<TotalsMessage>(forged, DASHBOARD_TOTALS);
    await received.ended();
    expect(received.closeEvent?.code).toBe(4401);
  });

  it('accepts a token sent as a header of the upgrade request', async () => {
    const { createClient } = await import('graphql-ws');
    const { default: WebSocket } = await import('ws');
    const token = await signToken({ role: 'viewer' });
    class WithHeader extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { headers: { authorization: `Bearer ${token}` } });
      }
    }
    const viaHeader = createClient({ url: gateway.url, webSocketImpl: WithHeader, retryAttempts: 0 });
    cleanups.push(() => void viaHeader.dispose());
    const received = new Received<TotalsMessage>(viaHeader, DASHBOARD_TOTALS, { from: '2025-03-01', to: '2025-03-31' });
    await received.waitForResults(1);
    expect(received.last!.dashboardUpdated.totalRevenue).toBe('80.00');
  });

  it('refuses a viewer a subscription that selects customer-level fields, with FORBIDDEN', async () => {
    const viewer = await client('viewer');
    const received = new Received<TopCustomersMessage>(viewer, TOP_CUSTOMERS);
    await received.ended();
    expect(received.results).toEqual([]);
    expect(received.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    expect(received.errors?.[0]?.path).toEqual(['dashboardUpdated', 'topProducts', 0, 'product', 'topCustomers']);
    await eventually(
      () => gateway.subscriptions.stats.activeSubscriptions === 0,
      2_000,
      'the refused subscription released',
    );
  });

  it('serves the same subscription to an analyst, and a viewer the aggregates', async () => {
    const analyst = await client('analyst');
    const full = new Received<TopCustomersMessage>(analyst, TOP_CUSTOMERS);
    await full.waitForResults(1);
    expect(full.last!.dashboardUpdated.topProducts[0]!.product.topCustomers).toEqual([{ name: 'לקוחה ראשונה' }]);

    const viewer = await client('viewer');
    const totals = new Received<TotalsMessage>(viewer, DASHBOARD_TOTALS, { from: '2025-03-01', to: '2025-03-31' });
    await totals.waitForResults(1);
    expect(totals.last!.dashboardUpdated).toEqual({
      totalRevenue: '80.00',
      totalTransactions: 1,
      completedTransactions: 1,
    });
  });

  it('keeps live queries of different roles apart', async () => {
    const viewer = new Received<TotalsMessage>(await client('viewer'), DASHBOARD_TOTALS, {
      from: '2025-03-01',
      to: '2025-03-31',
    });
    const analyst = new Received<TotalsMessage>(await client('analyst'), DASHBOARD_TOTALS, {
      from: '2025-03-01',
      to: '2025-03-31',
    });
    await Promise.all([viewer.waitForResults(1), analyst.waitForResults(1)]);
    expect(gateway.subscriptions.stats.liveQueries).toBe(2);
  });

  it('applies the query cost limit, with the variables', async () => {
    const analyst = await client('analyst');
    const received = new Received<TopCustomersMessage>(
      analyst,
      `subscription Costly($limit: Int) { dashboardUpdated { topProducts(limit: $limit) { product { topCustomers(limit: 20) { name } } } } }`,
      { limit: 50 },
    );
    await received.ended();
    expect(received.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', maxCost: 200 });
    expect(received.errors?.[0]?.extensions).not.toHaveProperty('http');
  });

  it('applies the depth limit', async () => {
    const analyst = await client('analyst');
    const received = new Received<TopCustomersMessage>(
      analyst,
      `subscription Deep { dashboardUpdated { topProducts { product { topCustomers { favoriteProduct { topCustomers { name } } } } } } }`,
    );
    await received.ended();
    expect(received.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_DEEP');
  });

  it('reports a bad argument as BAD_USER_INPUT naming it', async () => {
    const viewer = await client('viewer');
    const reversed = new Received<TotalsMessage>(viewer, DASHBOARD_TOTALS, { from: '2025-04-01', to: '2025-03-01' });
    await reversed.ended();
    expect(reversed.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'from' });

    const malformed = new Received<TotalsMessage>(viewer, DASHBOARD_TOTALS, { from: '2025-02-30' });
    await malformed.ended();
    expect(malformed.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'from' });
  });

  it('gives every refusal a code: parse and validation failures too', async () => {
    const viewer = await client('viewer');
    const malformed = new Received<TotalsMessage>(viewer, 'subscription { dashboardUpdated { totalRevenue }');
    const unknown = new Received<TotalsMessage>(viewer, 'subscription { dashboardUpdated { totalRevenu } }');
    const twoFields = new Received<TotalsMessage>(
      viewer,
      'subscription { a: dashboardUpdated { totalRevenue } b: revenueUpdated { totalRevenue } }',
    );
    await Promise.all([malformed.ended(), unknown.ended(), twoFields.ended()]);
    expect(malformed.errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    expect(unknown.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(twoFields.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(viewer.closes).toEqual([]);
  });

  it('serves only subscriptions over WebSocket', async () => {
    const viewer = await client('viewer');
    const query = new Received<TotalsMessage>(viewer, '{ dashboard { totalRevenue } }');
    await query.ended();
    expect(query.errors?.[0]?.extensions?.code).toBe('BAD_REQUEST');
  });

  it('refuses a new subscription once the token of the socket has expired', async () => {
    const expiresAt = Math.floor(Date.now() / 1000) + 2;
    const expiring = connect(gateway.url, {
      authorization: `Bearer ${await signToken({ role: 'viewer', expiresAt })}`,
    });
    cleanups.push(() => void expiring.dispose());
    const first = new Received<TotalsMessage>(expiring, DASHBOARD_TOTALS, { from: '2025-03-01', to: '2025-03-31' });
    await first.waitForResults(1);

    await sleep(Math.max(0, (expiresAt + 1) * 1000 - Date.now()));
    const second = new Received<TotalsMessage>(expiring, DASHBOARD_TOTALS, { from: '2025-03-02', to: '2025-03-31' });
    await second.ended();
    expect(second.results).toEqual([]);
    expect(expiring.closes[0]?.code).toBe(4401);
  });
});

describe('subscriptions of a revoked API key', () => {
  it('closes the socket with 4401 at the next check of its credentials', async () => {
    const checking = await startLiveGateway(database.handle, { ...authConfig, SUBSCRIPTION_REAUTH_INTERVAL_MS: 200 });
    try {
      const { key, record } = await createApiKey(database.handle.db, 'live-wall-display', 'viewer');
      const display = connect(checking.url, { 'x-api-key': key });
      cleanups.push(() => void display.dispose());
      const received = new Received<TotalsMessage>(display, DASHBOARD_TOTALS, { from: '2025-03-01', to: '2025-03-31' });
      await received.waitForResults(1);
      await sleep(500);
      expect(display.closes).toEqual([]);

      await revokeApiKey(database.handle.db, { id: record.id });
      await received.ended(5_000);
      expect(received.closeEvent?.code).toBe(4401);
      expect(received.closeEvent?.reason).toMatch(/revoked/);
      await eventually(() => checking.subscriptions.stats.openSockets === 0, 2_000, 'the socket forgotten');
    } finally {
      await checking.close();
    }
  });
});
