import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fromGlobalId } from '../../src/graphql/global-id.js';
import { authConfig, signToken } from '../auth/auth-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import {
  DASHBOARD_TOTALS,
  Received,
  connect,
  eventually,
  insertTransaction,
  seedCatalogue,
  startLiveGateway,
  type LiveGateway,
  type TotalsMessage,
} from './subscription-fixtures.js';
import { readAuditRows } from '../audit/audit-fixtures.js';

// Subscribers are audited like HTTP requests: every result holding customer-level data that reaches a
// subscriber's socket is an entry of the trail, written by the gateway's one AuditWriter.

const TOP_CUSTOMERS = `subscription LiveTopCustomers($from: Date, $to: Date) {
  dashboardUpdated(from: $from, to: $to) {
    totalRevenue
    topProducts(limit: 1) { product { name topCustomers(limit: 2) { id name } } }
  }
}`;

type TopCustomersMessage = {
  dashboardUpdated: {
    totalRevenue: string;
    topProducts: { product: { name: string; topCustomers: { id: string; name: string }[] } }[];
  };
};

const MARCH = { from: '2025-03-01', to: '2025-03-31' };

let database: TestDatabase;
let gateway: LiveGateway;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  await seedCatalogue(database.handle);
  await sql`INSERT INTO customers (id, name, created_at) VALUES (3, 'לקוחה שלישית', '2025-01-01T00:00:00Z'), (4, 'לקוח רביעי', '2025-01-01T00:00:00Z')`.execute(
    database.handle.db,
  );
  await insertTransaction(database.handle, { amount: '80.00', date: '2025-03-05T10:00:00Z', customerId: 1 });
  await insertTransaction(database.handle, { amount: '50.00', date: '2025-03-06T10:00:00Z', customerId: 2 });
  // A long interval: nothing is written until the test flushes.
  gateway = await startLiveGateway(database.handle, { ...authConfig, AUDIT_FLUSH_INTERVAL_MS: 600_000 });
});

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

afterAll(async () => {
  await gateway?.close();
  await database?.drop();
});

const auditRows = () => readAuditRows(database.handle);

/**
 * Independently of the views: the top customers (completed revenue on the product, ties by id) of the product
 * with the most completed revenue in the range, as database ids, in order.
 */
async function expectedTopCustomers(range: { from: string; to: string }, limit: number): Promise<string[]> {
  const { rows } = await sql<{ customer_id: string }>`
    WITH top_product AS (
      SELECT product_id FROM transactions
      WHERE status = 'completed' AND (transaction_date AT TIME ZONE 'UTC')::date BETWEEN ${range.from}::date AND ${range.to}::date
      GROUP BY product_id ORDER BY sum(amount) DESC, product_id LIMIT 1
    )
    SELECT customer_id::text FROM transactions
    WHERE product_id = (SELECT product_id FROM top_product) AND status = 'completed'
    GROUP BY customer_id ORDER BY sum(amount) DESC, customer_id LIMIT ${limit}`.execute(database.handle.db);
  return rows.map((row) => row.customer_id);
}

/** The database ids of the customers a pushed result holds. */
function customersIn(message: TopCustomersMessage): string[] {
  return message.dashboardUpdated.topProducts.flatMap((top) =>
    top.product.topCustomers.map((customer) => fromGlobalId(customer.id).id),
  );
}

async function subscriber<T>(role: string, subject: string, requestId: string, subscriptionId: string, query: string) {
  const socket = connect(
    gateway.url,
    { authorization: `Bearer ${await signToken({ role, subject })}` },
    { headers: { 'x-request-id': requestId }, generateID: () => subscriptionId },
  );
  cleanups.push(() => void socket.dispose());
  return new Received<T>(socket, query, MARCH);
}

describe('the audit trail of subscriptions', () => {
  it('records every result with customers sent to each analyst, at subscribe time and on each push, and nothing for an unchanged one', async () => {
    await sql`TRUNCATE audit_log`.execute(database.handle.db);
    const dana = await subscriber<TopCustomersMessage>(
      'analyst',
      'dana@example.test',
      'ws-dana',
      'live-1',
      TOP_CUSTOMERS,
    );
    await dana.waitForResults(1);
    const eli = await subscriber<TopCustomersMessage>('analyst', 'eli@example.test', 'ws-eli', 'live-2', TOP_CUSTOMERS);
    await eli.waitForResults(1);
    // One live query, computed once, for both subscribers.
    expect(gateway.subscriptions.stats.liveQueries).toBe(1);

    const atFirst = await expectedTopCustomers(MARCH, 2);
    expect(atFirst).toEqual(['1', '2']);
    expect(customersIn(dana.results[0]!.data!)).toEqual(atFirst);
    await gateway.audit.flush();
    const subscribed = await auditRows();
    expect(subscribed).toEqual([
      {
        request_id: 'ws-dana#live-1',
        principal: 'jwt:dana@example.test',
        role: 'analyst',
        client_ip: '127.0.0.1',
        operation_name: 'LiveTopCustomers',
        customer_count: 2,
        customer_ids: expect.any(Array),
      },
      {
        request_id: 'ws-eli#live-2',
        principal: 'jwt:eli@example.test',
        role: 'analyst',
        client_ip: '127.0.0.1',
        operation_name: 'LiveTopCustomers',
        customer_count: 2,
        customer_ids: expect.any(Array),
      },
    ]);
    for (const row of subscribed) expect([...row.customer_ids].sort()).toEqual([...atFirst].sort());

    // Customer 3 becomes the product's best customer: both are pushed a result with other customers.
    await insertTransaction(database.handle, { amount: '500.00', date: '2025-03-07T10:00:00Z', customerId: 3 });
    await Promise.all([dana.waitForResults(2), eli.waitForResults(2)]);
    const afterInsert = await expectedTopCustomers(MARCH, 2);
    expect(afterInsert).toEqual(['3', '1']);
    expect(customersIn(dana.results[1]!.data!)).toEqual(afterInsert);
    expect(customersIn(eli.results[1]!.data!)).toEqual(afterInsert);
    await gateway.audit.flush();
    const pushed = (await auditRows()).slice(2);
    expect(pushed.map((row) => row.request_id).sort()).toEqual(['ws-dana#live-1', 'ws-eli#live-2']);
    for (const row of pushed) {
      expect([...row.customer_ids].sort()).toEqual([...afterInsert].sort());
      expect(row.customer_count).toBe(2);
    }

    // A write that changes nothing they selected (outside March, too small to change the top customers):
    // recomputed, not pushed, not recorded.
    const unchangedBefore = gateway.subscriptions.stats.unchanged;
    await insertTransaction(database.handle, { amount: '1.00', date: '2025-05-01T10:00:00Z', customerId: 4 });
    await eventually(
      () => gateway.subscriptions.stats.unchanged > unchangedBefore,
      10_000,
      'the unchanged recomputation',
    );
    expect(await expectedTopCustomers(MARCH, 2)).toEqual(afterInsert);
    await gateway.audit.flush();
    expect(await auditRows()).toHaveLength(4);
    expect([dana.results.length, eli.results.length]).toEqual([2, 2]);
  });

  it("records nothing for a viewer's aggregate-only subscription, at subscribe time or on a push", async () => {
    const viewer = await subscriber<TotalsMessage>(
      'viewer',
      'wall@example.test',
      'ws-wall',
      'live-3',
      DASHBOARD_TOTALS,
    );
    await viewer.waitForResults(1);
    await insertTransaction(database.handle, { amount: '7.00', date: '2025-03-08T10:00:00Z', customerId: 2 });
    await viewer.waitForResults(2);
    await gateway.audit.flush();
    expect((await auditRows()).filter((row) => row.principal === 'jwt:wall@example.test')).toEqual([]);
  });
});
