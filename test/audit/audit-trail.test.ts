import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromGlobalId, toGlobalId } from '../../src/graphql/global-id.js';
import { AuditWriter } from '../../src/audit/audit-writer.js';
import { seedDatabase } from '../../src/seed/seed-database.js';
import { authConfig, bearer, signToken } from '../auth/auth-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { clearAuditTrail, readAuditRows } from './audit-fixtures.js';
import { type CachedGateway, openStore, startCachedGateway, uniquePrefix } from '../support/gateway-with-cache.js';

type CustomersPage = { customers: { edges: { node: { id: string; name: string } }[] } | null };

const CUSTOMERS = `query TopCustomers($n: Int) { customers(first: $n) { edges { node { id name } } } }`;

let database: TestDatabase;
let gateway: TestGateway;

const auditRows = () => readAuditRows(database.handle);

const clearTrail = () => clearAuditTrail(database.handle);

beforeAll(async () => {
  database = await createTestDatabase();
  await seedDatabase(database.handle.db, { transactions: 400, customers: 25, seed: 11, until: '2025-06-30' });
  // A long interval: nothing is written until the test flushes, which shows the write is off the request path.
  gateway = await startTestGateway(
    database.handle,
    { ...authConfig, AUDIT_FLUSH_INTERVAL_MS: 600_000 },
    {},
    { overHttp: true },
  );
});

afterAll(async () => {
  await gateway?.close();
  await database?.drop();
});

describe('the audit trail', () => {
  it("records an analyst's customers query: who, role, operation, request id, and exactly the customers returned", async () => {
    await clearTrail();
    const token = await signToken({ role: 'analyst', subject: 'dana@example.test' });
    const answer = await gateway.post<CustomersPage>(
      { query: CUSTOMERS, variables: { n: 7 } },
      { ...bearer(token), 'x-request-id': 'req-audit-1' },
    );
    expect(answer.status).toBe(200);
    const returned = answer.body.data!.customers!.edges.map((edge) => fromGlobalId(edge.node.id).id);
    expect(returned).toHaveLength(7);

    // Written off the request path: the answer is out, the row is not yet in PostgreSQL.
    expect(await auditRows()).toEqual([]);
    expect(gateway.audit.backlog).toBe(1);
    await gateway.audit.flush();

    const rows = await auditRows();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toEqual({
      request_id: 'req-audit-1',
      principal: 'jwt:dana@example.test',
      role: 'analyst',
      client_ip: '127.0.0.1',
      operation_name: 'TopCustomers',
      customer_count: 7,
      customer_ids: expect.any(Array),
    });
    expect([...rows[0]!.customer_ids].sort()).toEqual([...returned].sort());
  });

  it('records the customers of topCustomers and of customer and node lookups', async () => {
    await clearTrail();
    const token = await signToken({ role: 'analyst', subject: 'eli@example.test' });
    // Independently of the views: product 1's top 2 customers by completed revenue, ties by id.
    const { rows: expected } = await sql<{ customer_id: string }>`
      SELECT customer_id::text FROM transactions WHERE product_id = 1 AND status = 'completed'
      GROUP BY customer_id ORDER BY sum(amount) DESC, customer_id LIMIT 2`.execute(database.handle.db);
    const query = `query Lookups($product: ID!, $customer: ID!) {
      product(id: $product) { topCustomers(limit: 2) { name } }
      customer(id: $customer) { name }
      node(id: $customer) { id }
    }`;
    const answer = await gateway.post(
      { query, variables: { product: toGlobalId('Product', '1'), customer: toGlobalId('Customer', '25') } },
      bearer(token),
    );
    expect(answer.body.errors).toBeUndefined();
    await gateway.audit.flush();
    const rows = await auditRows();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.operation_name).toBe('Lookups');
    expect([...rows[0]!.customer_ids].sort()).toEqual([...expected.map((row) => row.customer_id), '25'].sort());
    expect(rows[0]!.customer_count).toBe(new Set([...expected.map((row) => row.customer_id), '25']).size);
  });

  it('records nothing for aggregates, for a product fetched through node, or for a field the role refuses', async () => {
    await clearTrail();
    const viewer = bearer(await signToken({ role: 'viewer' }));
    await gateway.post({ query: '{ dashboard { totalRevenue topProducts { revenue } } }' }, viewer);
    await gateway.post({ query: `{ node(id: "${toGlobalId('Product', '1')}") { id } }` }, viewer);
    const refused = await gateway.post<CustomersPage>({ query: CUSTOMERS, variables: { n: 3 } }, viewer);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    await gateway.audit.flush();
    expect(await auditRows()).toEqual([]);
  });

  it('writes many requests in one batch', async () => {
    await clearTrail();
    const token = await signToken({ role: 'analyst', subject: 'batch@example.test' });
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        gateway.post({ query: CUSTOMERS, variables: { n: 1 + (i % 5) } }, bearer(token)),
      ),
    );
    expect(await auditRows()).toEqual([]);
    expect(gateway.audit.backlog).toBe(20);
    await gateway.audit.flush();
    const rows = await auditRows();
    expect(rows).toHaveLength(20);
    expect(new Set(rows.map((row) => row.request_id)).size).toBe(20);
  });
});

describe('the audit writer when PostgreSQL refuses the write', () => {
  it('keeps the entries and writes them on a later flush, losing none', async () => {
    await clearTrail();
    const errors: object[] = [];
    const writer = new AuditWriter(
      database.handle.db,
      { error: (details: object) => errors.push(details) },
      { flushIntervalMs: 600_000, batchSize: 2, maxPending: 100 },
    );
    const entry = (n: number) => ({
      occurredAt: new Date(),
      requestId: `req-retry-${n}`,
      principal: 'api-key:7',
      role: 'analyst' as const,
      clientIp: null,
      operationName: null,
      customerIds: [String(n)],
    });
    await sql`ALTER TABLE audit_log RENAME TO audit_log_away`.execute(database.handle.db);
    try {
      for (let n = 1; n <= 5; n++) writer.record(entry(n));
      await writer.flush();
      expect(writer.backlog).toBe(5);
      expect(errors.length).toBeGreaterThan(0);
      // The log says how many wait, never which customers.
      expect(JSON.stringify(errors)).not.toContain('req-retry');
    } finally {
      await sql`ALTER TABLE audit_log_away RENAME TO audit_log`.execute(database.handle.db);
    }
    await writer.close();
    expect(writer.backlog).toBe(0);
    expect((await auditRows()).map((row) => row.request_id)).toEqual([1, 2, 3, 4, 5].map((n) => `req-retry-${n}`));
  });
});

describe('audit retention', () => {
  it('deletes entries older than the retention period and keeps the rest', async () => {
    await clearTrail();
    await sql`
      INSERT INTO audit_log (occurred_at, request_id, principal, role, customer_count, customer_ids)
      VALUES (now() - interval '400 days', 'req-old', 'anonymous', 'admin', 0, '{}'),
             (now() - interval '300 days', 'req-kept', 'anonymous', 'admin', 0, '{}'),
             (now(), 'req-new', 'anonymous', 'admin', 0, '{}')`.execute(database.handle.db);
    const logger = { error: () => undefined };
    const keepForever = new AuditWriter(database.handle.db, logger, {
      flushIntervalMs: 600_000,
      batchSize: 10,
      maxPending: 10,
      retentionDays: 0,
    });
    expect(await keepForever.prune()).toBe(0);
    const yearly = new AuditWriter(database.handle.db, logger, {
      flushIntervalMs: 600_000,
      batchSize: 10,
      maxPending: 10,
      retentionDays: 365,
    });
    expect(await yearly.prune()).toBe(1);
    expect((await auditRows()).map((row) => row.request_id)).toEqual(['req-kept', 'req-new']);
  });
});

describe('reading the audit trail', () => {
  it('refuses an analyst asking for the audit trail with FORBIDDEN', async () => {
    const analyst = bearer(await signToken({ role: 'analyst' }));
    const answer = await gateway.post<{ auditTrail: unknown; dashboard: unknown }>(
      { query: '{ dashboard { totalTransactions } auditTrail(first: 5) { totalCount } }' },
      analyst,
    );
    expect(answer.status).toBe(200);
    expect(answer.body.data?.auditTrail).toBeNull();
    expect(answer.body.data?.dashboard).not.toBeNull();
    expect(answer.body.errors).toHaveLength(1);
    expect(answer.body.errors?.[0]).toMatchObject({ path: ['auditTrail'], extensions: { code: 'FORBIDDEN' } });
  });

  it('gives an admin the trail newest first, filtered by principal and by customer', async () => {
    await clearTrail();
    const first = bearer(await signToken({ role: 'analyst', subject: 'first@example.test' }));
    const second = bearer(await signToken({ role: 'analyst', subject: 'second@example.test' }));
    await gateway.post({ query: CUSTOMERS, variables: { n: 2 } }, { ...first, 'x-request-id': 'req-a' });
    await gateway.post(
      { query: `{ customer(id: "${toGlobalId('Customer', '25')}") { name } }` },
      { ...second, 'x-request-id': 'req-b' },
    );
    await gateway.audit.flush();

    const admin = bearer(await signToken({ role: 'admin', subject: 'root@example.test' }));
    const trail = `query Trail($principal: String, $customerId: ID) {
      auditTrail(first: 10, principal: $principal, customerId: $customerId) {
        totalCount edges { node { requestId principal role operationName customerCount customerIds occurredAt } }
      }
    }`;
    type Trail = {
      auditTrail: {
        totalCount: number;
        edges: { node: { requestId: string; principal: string; customerIds: string[]; occurredAt: string } }[];
      };
    };
    const all = await gateway.post<Trail>({ query: trail }, admin);
    expect(all.body.errors).toBeUndefined();
    expect(all.body.data!.auditTrail.totalCount).toBe(2);
    expect(all.body.data!.auditTrail.edges.map((edge) => edge.node.requestId)).toEqual(['req-b', 'req-a']);
    expect(all.body.data!.auditTrail.edges[0]!.node.occurredAt).toMatch(
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/,
    );

    const bySecond = await gateway.post<Trail>(
      { query: trail, variables: { principal: 'jwt:second@example.test' } },
      admin,
    );
    expect(bySecond.body.data!.auditTrail.edges.map((edge) => edge.node.customerIds)).toEqual([
      [toGlobalId('Customer', '25')],
    ]);

    const byCustomer = await gateway.post<Trail>(
      { query: trail, variables: { customerId: toGlobalId('Customer', '25') } },
      admin,
    );
    expect(byCustomer.body.data!.auditTrail.edges.map((edge) => edge.node.requestId)).toContain('req-b');

    // Reading the trail is not itself a customer-level read.
    await gateway.audit.flush();
    expect(await auditRows()).toHaveLength(2);
  });

  it('refuses a malformed customer id with BAD_USER_INPUT', async () => {
    const admin = bearer(await signToken({ role: 'admin' }));
    const answer = await gateway.post({ query: '{ auditTrail(customerId: "nope") { totalCount } }' }, admin);
    expect(answer.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'customerId' });
  });
});

describe('customer-level answers and the response cache', () => {
  let cached: CachedGateway;

  beforeAll(async () => {
    cached = await startCachedGateway(database.handle, openStore('memory', uniquePrefix('audit')));
  });

  afterAll(async () => {
    await cached?.close();
    await cached?.store.close();
  });

  it('never serves a customers answer from the cache, so every read is in the trail', async () => {
    await clearTrail();
    const first = await cached.post({ query: CUSTOMERS, variables: { n: 3 } });
    const second = await cached.post({ query: CUSTOMERS, variables: { n: 3 } });
    expect(first.headers['x-cache']).toBe('MISS');
    expect(second.headers['x-cache']).toBe('MISS');
    await cached.audit.flush();
    const rows = await auditRows();
    expect(rows.map((row) => [row.principal, row.customer_count])).toEqual([
      ['anonymous', 3],
      ['anonymous', 3],
    ]);
  });

  it('still caches aggregate answers', async () => {
    const query = { query: '{ dashboard { totalRevenue } }' };
    await cached.post(query);
    expect((await cached.post(query)).headers['x-cache']).toBe('HIT');
  });
});
