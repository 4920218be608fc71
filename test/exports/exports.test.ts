import { getNullableType, isLeafType, isObjectType } from 'graphql';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/auth/api-key.repository.js';
import { closeRedisClient } from '../../src/cache/redis-cache.js';
import { ReportZoneCheck } from '../../src/db/report-zone.js';
import { readDatabaseReportZone } from '../../src/db/rollups.js';
import { buildGatewaySchema } from '../../src/app/schema.js';
import { seedDatabase } from '../../src/seed/seed-database.js';
import { clearAuditTrail, readAuditRows } from '../audit/audit-fixtures.js';
import { authConfig, bearer, signToken } from '../auth/auth-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway, type GraphQLResponse, type TestGateway } from '../support/gateway.js';
import { parsePrometheus, valueOf } from '../support/prometheus-text.js';
import { has } from '../support/requirements.js';
import { BOM, baseUrl, download, expectedRows, parseCsv, parseNdjson, scalarFieldsOf } from './export-fixtures.js';
import { frozenCache, openRateLimitRedis, openStore, removeKeys, uniquePrefix } from '../support/gateway-with-cache.js';

// The exports against the GraphQL answers for the same arguments, on a seeded shop plus customers and products
// whose names test the file format: formula-like, quoted, multi-line, Hebrew, empty. More than two keyset
// batches of customers (1,000 each), many of them tied on every sort value, so that batch edges fall inside ties.

const CUSTOMER_COUNT_EXTRA = 2_150;

const SPECIAL_CUSTOMERS: [
  id: number,
  name: string,
  email: string | null,
  city: string | null,
  amount: string | null,
][] = [
  [900001, '-Acme', 'sales@acme.example', 'חיפה', '12345.50'],
  [900002, '=SUM(A1:A9)', '=cmd|calc@example.test', null, '7.05'],
  [900003, '+972 Trading', null, '+city', '1200.00'],
  [900004, '@Home Office', '@mail@example.test', '@', null],
  [900005, '\tTabbed Ltd', 'tab@example.test', '\tעכו', '99.99'],
  [900006, '\rCarriage Ltd', null, null, '0.01'],
  [900007, 'Comma, Quote "Q" Ltd', 'q@example.test', 'Tel Aviv, "Jaffa"', '5000.00'],
  [900008, 'Two\nLines\r\nLtd', null, 'באר\nשבע', null],
  [900009, '', '', '', null],
  [900010, 'כהן ובניו בע"מ', 'cohen@example.co.il', 'ירושלים', '12345.50'],
  [900011, 'Acme - Branch 2', 'branch@acme.example', null, '12345.50'],
  [900012, "'Quoted Already", null, null, null],
  [900013, '100% ACME_ltd', null, null, '3.00'],
];

const SPECIAL_CATEGORY = 'בדיקות, "מיוחדות"';

let database: TestDatabase;
let gateway: TestGateway;
let base: string;
const statements: string[] = [];
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  database = await createTestDatabase({ onQuery: (text) => statements.push(text) });
  const db = database.handle.db;
  await seedDatabase(db, { transactions: 3_000, customers: 120, seed: 7, until: '2025-06-30' });
  await sql`INSERT INTO products (id, sku, name, category, unit_price) VALUES
    (9001, '=SKU-1', '-מוצר בדיקה', ${SPECIAL_CATEGORY}, 10.00),
    (9002, 'SKU-2', 'Plain product', ${SPECIAL_CATEGORY}, 20.50)`.execute(db);
  for (const [id, name, email, city, amount] of SPECIAL_CUSTOMERS) {
    await sql`INSERT INTO customers (id, name, email, city, created_at) VALUES (${id}, ${name}, ${email}, ${city}, '2024-01-01T00:00:00Z')`.execute(
      db,
    );
    if (amount !== null) {
      await sql`INSERT INTO transactions (id, customer_id, product_id, quantity, amount, status, transaction_date)
                VALUES (${id}, ${id}, 9001, 1, ${amount}::numeric, 'completed', '2025-03-10T10:00:00Z')`.execute(db);
    }
  }
  // Many customers tied at 0.00 and at a few amounts, so that keyset batch edges fall inside runs of ties.
  await sql`INSERT INTO customers (id, name, email, city, created_at)
            SELECT 100000 + g, 'לקוח ' || g, 'c' || g || '@example.test', CASE WHEN g % 3 = 0 THEN NULL ELSE 'אילת' END, '2024-01-01T00:00:00Z'
            FROM generate_series(1, ${CUSTOMER_COUNT_EXTRA}::int) AS g`.execute(db);
  await sql`INSERT INTO transactions (id, customer_id, product_id, quantity, amount, status, transaction_date)
            SELECT 800000 + g, 100000 + g, 9002, 1, (g % 4) * 10 + 0.50, CASE WHEN g % 20 = 0 THEN 'pending' ELSE 'completed' END,
                   '2025-01-01T00:00:00Z'::timestamptz + (g % 7) * interval '1 day'
            FROM generate_series(1, ${CUSTOMER_COUNT_EXTRA}::int, 5) AS g`.execute(db);
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  gateway = await startTestGateway(
    database.handle,
    { AUDIT_FLUSH_INTERVAL_MS: 600_000 },
    {},
    { overHttp: true, logger },
  );
  base = baseUrl(gateway);
});

afterAll(async () => {
  await gateway?.close();
  await database?.drop();
});

const CUSTOMER_ORDERS = ['LIFETIME_VALUE', 'TRANSACTION_COUNT', 'LAST_PURCHASE_AT', 'NAME'] as const;
const PRODUCT_ORDERS = ['REVENUE', 'UNITS_SOLD', 'NAME'] as const;
const DIRECTIONS = ['ASC', 'DESC'] as const;

interface Page {
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  edges: { node: Record<string, unknown> }[];
}

/** Every node of a connection, walked forward 100 at a time, with the scalar fields the committed SDL lists. */
async function walk(
  field: 'customers' | 'products',
  variables: Record<string, unknown>,
): Promise<Record<string, unknown>[]> {
  const [type, order, filter] =
    field === 'customers' ? ['Customer', 'CustomerOrder', 'search'] : ['Product', 'ProductOrder', 'category'];
  const selection = [...scalarFieldsOf(type).names].join(' ');
  const query = `query Walk($after: String, $orderBy: ${order}, $filter: String) {
    ${field}(first: 100, after: $after, orderBy: $orderBy, ${filter}: $filter) { pageInfo { hasNextPage endCursor } edges { node { ${selection} } } }
  }`;
  const nodes: Record<string, unknown>[] = [];
  let after: string | null = null;
  for (;;) {
    const answer: { body: GraphQLResponse<Record<string, Page>> } = await gateway.request<
      Record<string, Page>,
      Record<string, unknown>
    >(query, { ...variables, after });
    expect(answer.body.errors).toBeUndefined();
    const page: Page = answer.body.data![field]!;
    nodes.push(...page.edges.map((edge) => edge.node));
    if (!page.pageInfo.hasNextPage) return nodes;
    after = page.pageInfo.endCursor;
  }
}

function orderVariable(orderBy: string | undefined) {
  if (!orderBy) return undefined;
  const [field, direction] = orderBy.split(':');
  return { field, direction };
}

/** Downloads `path` as CSV and as NDJSON and checks both against the nodes GraphQL answered. */
async function expectExportToMatch(path: string, typeName: string, nodes: readonly Record<string, unknown>[]) {
  const separator = path.includes('?') ? '&' : '?';
  const csv = await download(base, path);
  expect(csv.status, csv.text).toBe(200);
  const { header, rows } = parseCsv(csv.text);
  const { text } = scalarFieldsOf(typeName);
  expect(rows).toEqual(expectedRows(header, text, nodes));

  const ndjson = await download(base, `${path}${separator}format=ndjson`);
  expect(ndjson.status, ndjson.text).toBe(200);
  const objects = parseNdjson(ndjson.text);
  expect(objects).toEqual(nodes);
  for (const object of objects) expect(Object.keys(object)).toEqual(header);
}

describe('export columns', () => {
  it.each([
    ['customers', 'Customer'],
    ['products', 'Product'],
    ['revenue', 'RevenuePoint'],
  ])('heads /export/%s with the scalar fields of %s, in the order the type declares them', async (kind, typeName) => {
    const { header } = parseCsv((await download(base, `/export/${kind}`)).text);
    // The committed SDL lists the same fields (it is sorted, so it cannot give the order) ...
    expect(new Set(header)).toEqual(scalarFieldsOf(typeName).names);
    // ... and the schema the gateway builds gives them in declaration order.
    const type = (await buildGatewaySchema()).getType(typeName);
    if (!isObjectType(type)) throw new Error(typeName);
    const declared = Object.values(type.getFields())
      .filter((field) => isLeafType(getNullableType(field.type)))
      .map((field) => field.name);
    expect(header).toEqual(declared);
  });

  it('leaves out the object fields and starts with the global id', async () => {
    const customers = parseCsv((await download(base, '/export/customers')).text).header;
    expect(customers).toEqual([
      'id',
      'name',
      'email',
      'city',
      'lifetimeValue',
      'transactionCount',
      'avgOrderValue',
      'firstPurchaseAt',
      'lastPurchaseAt',
    ]);
    const products = parseCsv((await download(base, '/export/products')).text).header;
    expect(products).toEqual([
      'id',
      'sku',
      'name',
      'category',
      'unitPrice',
      'revenue',
      'unitsSold',
      'transactionCount',
      'revenueShare',
    ]);
  });
});

describe('GET /export/customers', () => {
  it('writes every customer exactly as GraphQL answers them, in every order', async () => {
    const total = (await sql<{ n: number }>`SELECT count(*)::int AS n FROM customers`.execute(database.handle.db))
      .rows[0]!.n;
    expect(total).toBeGreaterThan(2_000);
    for (const field of CUSTOMER_ORDERS) {
      for (const direction of DIRECTIONS) {
        const orderBy = `${field}:${direction}`;
        const nodes = await walk('customers', { orderBy: orderVariable(orderBy) });
        expect(nodes).toHaveLength(total);
        await expectExportToMatch(`/export/customers?orderBy=${orderBy}`, 'Customer', nodes);
      }
    }
  }, 120_000);

  it('orders by lifetime value, largest first, when no orderBy is given', async () => {
    await expectExportToMatch('/export/customers', 'Customer', await walk('customers', {}));
  });

  it.each(['בע', 'ACME', '%', '"', 'לקוח 21', 'no such customer'])(
    'filters by search=%s as GraphQL does',
    async (search) => {
      for (const orderBy of ['NAME:ASC', 'LIFETIME_VALUE:DESC']) {
        const nodes = await walk('customers', { orderBy: orderVariable(orderBy), filter: search });
        await expectExportToMatch(
          `/export/customers?orderBy=${orderBy}&search=${encodeURIComponent(search)}`,
          'Customer',
          nodes,
        );
      }
    },
  );
});

describe('GET /export/products', () => {
  it.each([undefined, 'מחשבים ניידים', SPECIAL_CATEGORY, '', 'no such category'])(
    'writes the products of category=%s as GraphQL answers them, in every order',
    async (category) => {
      const filter = category === undefined ? '' : `&category=${encodeURIComponent(category)}`;
      for (const field of PRODUCT_ORDERS) {
        for (const direction of DIRECTIONS) {
          const orderBy = `${field}:${direction}`;
          const nodes = await walk('products', { orderBy: orderVariable(orderBy), filter: category });
          await expectExportToMatch(`/export/products?orderBy=${orderBy}${filter}`, 'Product', nodes);
        }
      }
    },
  );
});

describe('GET /export/revenue', () => {
  const RANGES: [from: string | undefined, to: string | undefined][] = [
    [undefined, undefined],
    ['2025-01-15', undefined],
    [undefined, '2024-09-03'],
    ['2025-02-01', '2025-03-31'],
    ['2024-12-30', '2025-01-05'],
    ['2025-06-20', '2025-08-10'],
    ['2020-01-01', '2020-01-31'],
    ['2025-03-10', '2025-03-10'],
  ];

  it.each(['DAY', 'WEEK', 'MONTH'])(
    'writes the points of revenue(granularity: %s) as GraphQL answers them, for every range',
    async (granularity) => {
      const selection = [...scalarFieldsOf('RevenuePoint').names].join(' ');
      for (const [from, to] of RANGES) {
        const answer = await gateway.request<
          { revenue: { points: Record<string, unknown>[] } },
          Record<string, unknown>
        >(
          `query Points($from: Date, $to: Date, $granularity: Granularity) { revenue(from: $from, to: $to, granularity: $granularity) { points { ${selection} } } }`,
          { from, to, granularity },
        );
        expect(answer.body.errors).toBeUndefined();
        const points = answer.body.data!.revenue.points;
        expect(points.length).toBeGreaterThan(0);
        const query = [
          `granularity=${granularity}`,
          ...(from ? [`from=${from}`] : []),
          ...(to ? [`to=${to}`] : []),
        ].join('&');
        await expectExportToMatch(`/export/revenue?${query}`, 'RevenuePoint', points);
      }
    },
    60_000,
  );

  it('takes DAY when no granularity is given', async () => {
    const day = await download(base, '/export/revenue?from=2025-02-01&to=2025-02-10');
    expect(day.text).toBe((await download(base, '/export/revenue?from=2025-02-01&to=2025-02-10&granularity=DAY')).text);
    expect(parseCsv(day.text).rows).toHaveLength(10);
  });
});

describe('the files', () => {
  it('starts CSV with a UTF-8 byte order mark and ends every record with CRLF', async () => {
    const csv = await download(base, '/export/customers?orderBy=NAME:ASC');
    expect([...csv.bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(
      csv.text.startsWith(
        `${BOM}id,name,email,city,lifetimeValue,transactionCount,avgOrderValue,firstPurchaseAt,lastPurchaseAt\r\n`,
      ),
    ).toBe(true);
    expect(csv.text.endsWith('\r\n')).toBe(true);
    // Outside quoted cells, every line break is CRLF (the multi-line name keeps its own inside quotes).
    const outsideQuotes = csv.text.replace(/"(?:[^"]|"")*"/g, '""');
    expect(outsideQuotes).not.toMatch(/[^\r]\n|\r[^\n]/);
    expect(outsideQuotes.split('\r\n')).toHaveLength(parseCsv(csv.text).rows.length + 2);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8; header=present');
  });

  it('writes NDJSON as one object per line, with no byte order mark', async () => {
    const ndjson = await download(base, '/export/products?format=ndjson');
    expect(ndjson.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
    expect(ndjson.text.startsWith('{"id":')).toBe(true);
    expect(ndjson.text.split('\n').at(-1)).toBe('');
  });

  it('keeps Hebrew and every other name byte for byte', async () => {
    const { rows, header } = parseCsv((await download(base, '/export/customers?orderBy=NAME:ASC&format=csv')).text);
    const names = rows.map((row) => row[header.indexOf('name')]);
    const { rows: stored } = await sql<{ name: string }>`SELECT name FROM customers`.execute(database.handle.db);
    const expected = stored.map(({ name }) => (/^[=+\-@\t\r]/.test(name) ? `'${name}` : name));
    expect([...names].sort()).toEqual([...expected].sort());
    expect(names).toContain('כהן ובניו בע"מ');
    expect(names).toContain('Two\nLines\r\nLtd');
    expect(names).toContain('');
  });

  it('neutralises text cells a spreadsheet would run as a formula, and no other cell', async () => {
    const csv = (await download(base, '/export/customers?orderBy=NAME:ASC')).text;
    for (const cell of [
      '"\'-Acme"',
      '"\'=SUM(A1:A9)"',
      '"\'+972 Trading"',
      '"\'@Home Office"',
      '"\'\tTabbed Ltd"',
      '"\'\rCarriage Ltd"',
    ]) {
      expect(csv).toContain(cell);
    }
    // Inside a cell, a formula character is harmless; a leading quote already there gets no second one.
    expect(csv).toContain('"Acme - Branch 2"');
    expect(csv).toContain('"\'Quoted Already"');
    expect(csv).not.toContain("''Quoted");
    expect(csv).toContain('"\'=cmd|calc@example.test"');
    expect(csv).toContain('"Comma, Quote ""Q"" Ltd"');
    // Money, counts, ids and instants are never quoted nor prefixed.
    const { rows, header } = parseCsv(csv);
    const acme = rows.find((row) => row[header.indexOf('name')] === "'-Acme")!;
    expect(acme.slice(4, 7)).toEqual(['12345.50', '1', '12345.50']);
    expect(csv).toMatch(
      /\r\nQ3VzdG9tZXI6OTAwMDAx,"'-Acme","sales@acme.example","חיפה",12345\.50,1,12345\.50,2025-03-10T10:00:00\.000Z,2025-03-10T10:00:00\.000Z\r\n/,
    );
    for (const row of rows) {
      for (const [i, name] of header.entries()) {
        if (!['name', 'email', 'city'].includes(name)) expect(row[i] ?? '').not.toMatch(/^'/);
      }
    }
    // NDJSON is data: the values as they are.
    const objects = parseNdjson((await download(base, '/export/customers?search=acme&format=ndjson')).text);
    expect(objects.map((object) => object.name)).toEqual(
      expect.arrayContaining(['-Acme', 'Acme - Branch 2', '100% ACME_ltd']),
    );
    const products = (await download(base, `/export/products?category=${encodeURIComponent(SPECIAL_CATEGORY)}`)).text;
    expect(products).toContain(`"'=SKU-1","'-מוצר בדיקה","בדיקות, ""מיוחדות""",10.00`);
  });

  it('answers an export without rows with its header alone', async () => {
    const csv = await download(base, '/export/customers?search=no%20such%20customer');
    expect(csv.status).toBe(200);
    expect(csv.text).toBe(
      `${BOM}id,name,email,city,lifetimeValue,transactionCount,avgOrderValue,firstPurchaseAt,lastPurchaseAt\r\n`,
    );
    const ndjson = await download(base, '/export/products?category=none&format=ndjson');
    expect(ndjson.status).toBe(200);
    expect(ndjson.text).toBe('');
  });

  it('names the file after what it holds and which days, ASCII with the filter in filename* when it is not', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const disposition = async (path: string) => (await download(base, path)).headers.get('content-disposition');
    expect(await disposition('/export/customers')).toBe(
      `attachment; filename="customers-lifetime_value-desc-${today}.csv"`,
    );
    expect(await disposition('/export/customers?orderBy=LAST_PURCHASE_AT:ASC&search=acme&format=ndjson')).toBe(
      `attachment; filename="customers-last_purchase_at-asc-acme-${today}.ndjson"`,
    );
    expect(await disposition(`/export/customers?search=${encodeURIComponent('כהן ובניו')}`)).toBe(
      `attachment; filename="customers-lifetime_value-desc-search-${today}.csv"; filename*=UTF-8''customers-lifetime_value-desc-${encodeURIComponent('כהן_ובניו')}-${today}.csv`,
    );
    expect(
      await disposition(`/export/products?category=${encodeURIComponent(SPECIAL_CATEGORY)}&orderBy=NAME:ASC`),
    ).toBe(
      `attachment; filename="products-name-asc-category-${today}.csv"; filename*=UTF-8''products-name-asc-${encodeURIComponent('בדיקות_מיוחדות')}-${today}.csv`,
    );
    expect(await disposition('/export/products?category=../../etc/passwd')).toBe(
      `attachment; filename="products-revenue-desc-etc_passwd-${today}.csv"`,
    );
    expect(await disposition('/export/revenue?from=2025-01-01&to=2025-03-31&granularity=WEEK')).toBe(
      'attachment; filename="revenue-week-2025-01-01_2025-03-31.csv"',
    );
    // An open end is the data's, as the series takes it.
    const { rows } = await sql<{
      first: string;
    }>`SELECT min(transaction_date AT TIME ZONE 'UTC')::date::text AS first FROM transactions`.execute(
      database.handle.db,
    );
    expect(await disposition('/export/revenue?to=2025-03-31')).toBe(
      `attachment; filename="revenue-day-${rows[0]!.first}_2025-03-31.csv"`,
    );
  });

  it('is never stored by a cache on the way, nor by the response cache', async () => {
    const csv = await download(base, '/export/revenue');
    expect(csv.headers.get('cache-control')).toBe('no-store');
    expect(csv.headers.get('x-cache')).toBeNull();

    const cached = await startTestGateway(
      database.handle,
      {},
      { cache: frozenCache(openStore('memory', 'exports:').cache, { dataVersion: 'unchanging', ttlSeconds: 600 }) },
      { overHttp: true },
    );
    try {
      const products = `{ products(category: "${SPECIAL_CATEGORY.replaceAll('"', '\\"')}", orderBy: { field: NAME, direction: ASC }) { edges { node { name } } } }`;
      await cached.request(products);
      await sql`UPDATE products SET name = 'Renamed product' WHERE id = 9002`.execute(database.handle.db);
      // The cache never hears of the change (its data version does not move): GraphQL answers what it kept ...
      const stale = await cached.request<{ products: { edges: { node: { name: string } }[] } }, never>(products);
      expect(stale.body.data!.products.edges.map((edge) => edge.node.name)).toContain('Plain product');
      // ... and the export, read afresh every time, has the change.
      const exported = await download(
        baseUrl(cached),
        `/export/products?category=${encodeURIComponent(SPECIAL_CATEGORY)}&orderBy=NAME:ASC`,
      );
      expect(exported.headers.get('x-cache')).toBeNull();
      expect(parseCsv(exported.text).rows.map((row) => row[2])).toEqual(["'-מוצר בדיקה", 'Renamed product']);
    } finally {
      await sql`UPDATE products SET name = 'Plain product' WHERE id = 9002`.execute(database.handle.db);
      await cached.close();
    }
  });
});

describe('bad parameters', () => {
  const long = 'x'.repeat(201);
  it.each([
    ['/export/customers?format=xlsx', 'format'],
    ['/export/customers?format=CSV', 'format'],
    ['/export/customers?orderBy=LIFETIME_VALUE', 'orderBy'],
    ['/export/customers?orderBy=VALUE:DESC', 'orderBy'],
    ['/export/customers?orderBy=NAME:UP', 'orderBy'],
    ['/export/customers?orderBy=name:asc', 'orderBy'],
    ['/export/customers?orderBy=NAME:ASC:ID', 'orderBy'],
    ['/export/customers?orderBy=REVENUE:DESC', 'orderBy'],
    [`/export/customers?search=${long}`, 'search'],
    ['/export/customers?search=a%00b', 'search'],
    ['/export/customers?search=a&search=b', 'search'],
    ['/export/customers?first=10', 'first'],
    ['/export/customers?category=x', 'category'],
    ['/export/products?orderBy=LIFETIME_VALUE:DESC', 'orderBy'],
    [`/export/products?category=${long}`, 'category'],
    ['/export/products?search=x', 'search'],
    ['/export/revenue?from=2025-02-30', 'from'],
    ['/export/revenue?to=yesterday', 'to'],
    ['/export/revenue?from=0999-12-31', 'from'],
    ['/export/revenue?from=2025-03-01&to=2025-02-01', 'from'],
    ['/export/revenue?from=1000-01-01&to=9999-12-31', 'from'],
    ['/export/revenue?granularity=YEAR', 'granularity'],
    ['/export/revenue?granularity=day', 'granularity'],
    ['/export/revenue?orderBy=DATE:ASC', 'orderBy'],
    ['/export/revenue?format=ndjson&format=csv', 'format'],
  ])('answers %s with 400 BAD_USER_INPUT naming "%s", before reading anything', async (path, parameter) => {
    const before = statements.length;
    const answer = await download(base, path);
    expect(answer.status).toBe(400);
    expect(answer.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(answer.headers.get('content-disposition')).toBeNull();
    const body = JSON.parse(answer.text) as { error: { code: string; message: string } };
    expect(body).toEqual({
      error: { code: 'BAD_USER_INPUT', message: expect.stringContaining(`Parameter "${parameter}"`) },
    });
    expect(statements.slice(before)).toEqual([]);
  });
});

describe('observability', () => {
  it('logs the kind, format and rows of an export in its request line, and counts the rows by kind', async () => {
    const metrics = async () => parsePrometheus(await (await fetch(`${base}/metrics`)).text());
    const before = await metrics();
    const csv = await download(base, '/export/products', { 'x-request-id': 'export-log-1' });
    const rows = parseCsv(csv.text).rows.length;
    const after = await metrics();
    const delta = (name: string, labels: Record<string, string>) =>
      valueOf(after, name, labels) - valueOf(before, name, labels);
    expect(delta('marketpulse_export_rows_total', { kind: 'products', format: 'csv' })).toBe(rows);
    expect(delta('marketpulse_exports_total', { kind: 'products', outcome: 'complete' })).toBe(1);
    expect(delta('marketpulse_http_requests_total', { operation: '/export/products', status: '200' })).toBe(1);

    const line = logLines.find((entry) => entry.msg === 'request' && entry.requestId === 'export-log-1');
    expect(line).toMatchObject({
      url: '/export/products',
      status: 200,
      export: { kind: 'products', format: 'csv', rows, complete: true },
    });
    expect(line).not.toHaveProperty('aborted');

    await download(base, '/export/products?format=pdf', { 'x-request-id': 'export-log-2' });
    expect(logLines.find((entry) => entry.msg === 'request' && entry.requestId === 'export-log-2')).toMatchObject({
      status: 400,
      errorCodes: ['BAD_USER_INPUT'],
    });
  });
});

describe('roles and authentication', () => {
  let guarded: TestGateway;
  let guardedBase: string;

  beforeAll(async () => {
    guarded = await startTestGateway(
      database.handle,
      { ...authConfig, AUDIT_FLUSH_INTERVAL_MS: 600_000 },
      {},
      { overHttp: true },
    );
    guardedBase = baseUrl(guarded);
  });

  afterAll(async () => {
    await guarded?.close();
  });

  it.each(['customers', 'products', 'revenue'])(
    'answers /export/%s without credentials, or with bad ones, 401 UNAUTHENTICATED',
    async (kind) => {
      for (const headers of [{}, bearer('not.a.token'), { 'x-api-key': 'mpk_unknown' }]) {
        const answer = await download(guardedBase, `/export/${kind}`, headers);
        expect(answer.status).toBe(401);
        expect(answer.headers.get('www-authenticate')).toBe('Bearer');
        expect(JSON.parse(answer.text)).toEqual({ error: { code: 'UNAUTHENTICATED', message: expect.any(String) } });
      }
    },
  );

  it('refuses customers to a viewer with 403 FORBIDDEN, reading nothing, and serves products and revenue', async () => {
    const viewer = bearer(await signToken({ role: 'viewer' }));
    const before = statements.length;
    const refused = await download(guardedBase, '/export/customers', viewer);
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.text)).toEqual({
      error: { code: 'FORBIDDEN', message: 'Exporting customers needs the analyst role or higher' },
    });
    // Only the token was checked: no statement ran for the refused export.
    expect(statements.slice(before)).toEqual([]);
    expect((await download(guardedBase, '/export/products', viewer)).status).toBe(200);
    expect((await download(guardedBase, '/export/revenue?granularity=MONTH', viewer)).status).toBe(200);
  });

  it('serves customers to an analyst with an API key or a token', async () => {
    const { key } = await createApiKey(database.handle.db, 'export-analyst', 'analyst');
    const byKey = await download(guardedBase, '/export/customers?search=acme', { 'x-api-key': key });
    expect(byKey.status).toBe(200);
    expect(parseCsv(byKey.text).rows.length).toBeGreaterThan(0);
    const byToken = await download(
      guardedBase,
      '/export/customers?search=acme',
      bearer(await signToken({ role: 'analyst' })),
    );
    expect(byToken.text).toBe(byKey.text);
  });
});

describe('the audit trail', () => {
  it('names every exported customer, an entry per batch, with the request id and principal', async () => {
    await clearAuditTrail(database.handle);
    const guarded = await startTestGateway(
      database.handle,
      { ...authConfig, AUDIT_FLUSH_INTERVAL_MS: 600_000 },
      {},
      { overHttp: true },
    );
    try {
      const token = bearer(await signToken({ role: 'analyst', subject: 'exporter@example.test' }));
      const csv = await download(baseUrl(guarded), '/export/customers', { ...token, 'x-request-id': 'export-audit-1' });
      expect(csv.status).toBe(200);
      // Products and revenue hold no customer-level data, and a refused export read none.
      await download(baseUrl(guarded), '/export/products', token);
      await download(baseUrl(guarded), '/export/revenue', token);
      await download(baseUrl(guarded), '/export/customers', bearer(await signToken({ role: 'viewer' })));
      await guarded.audit.flush();

      // Independently of the views: every customer by completed revenue, largest first, ties by id.
      const { rows: expected } = await sql<{ id: string }>`
        SELECT c.id::text AS id
        FROM customers c
        LEFT JOIN (SELECT customer_id, sum(amount) AS value FROM transactions WHERE status = 'completed' GROUP BY customer_id) t ON t.customer_id = c.id
        ORDER BY coalesce(t.value, 0) DESC, c.id`.execute(database.handle.db);
      const entries = await readAuditRows(database.handle);
      expect(entries).toHaveLength(Math.ceil(expected.length / 1_000));
      for (const entry of entries) {
        expect(entry).toMatchObject({
          request_id: 'export-audit-1',
          principal: 'jwt:exporter@example.test',
          role: 'analyst',
          operation_name: 'export:customers',
          client_ip: '127.0.0.1',
        });
        expect(entry.customer_count).toBe(entry.customer_ids.length);
      }
      expect(entries.map((entry) => entry.customer_ids.length)).toEqual(
        entries.map((_, i) => Math.min(1_000, expected.length - i * 1_000)),
      );
      expect(entries.flatMap((entry) => entry.customer_ids)).toEqual(expected.map((row) => row.id));
      expect(parseCsv(csv.text).rows).toHaveLength(expected.length);
    } finally {
      await guarded.close();
    }
  });
});

describe('rate budgets', () => {
  const opened: { close(): Promise<void> }[] = [];
  const clients: Redis[] = [];
  const prefixes: string[] = [];

  afterAll(async () => {
    await Promise.all(opened.map((each) => each.close()));
    for (const prefix of prefixes) await removeKeys(prefix);
    await Promise.all(clients.map((client) => closeRedisClient(client)));
  });

  /** A gateway whose budget is `points` a minute, kept in the Redis under test (in process without one) under `prefix`. */
  async function budgeted(points: number, prefix: string): Promise<TestGateway> {
    const redis = await openRateLimitRedis(1_000);
    if (redis) clients.push(redis);
    const budgetedGateway = await startTestGateway(
      database.handle,
      { RATE_LIMIT_POINTS: points, RATE_LIMIT_WINDOW_SECONDS: 60, CACHE_KEY_PREFIX: prefix },
      redis ? { rateLimitRedis: redis } : {},
      { overHttp: true },
    );
    opened.push(budgetedGateway);
    return budgetedGateway;
  }

  function newPrefix(): string {
    const prefix = uniquePrefix('exports');
    prefixes.push(prefix);
    return prefix;
  }

  const customerCount = async () =>
    (await sql<{ n: number }>`SELECT count(*)::int AS n FROM customers`.execute(database.handle.db)).rows[0]!.n;

  it('charges an export 1 point per 100 rows, rounded up, besides the point every request costs', async () => {
    const price = Math.ceil((await customerCount()) / 100);
    const limited = await budgeted(1_000, newPrefix());
    const csv = await download(baseUrl(limited), '/export/customers');
    expect(csv.status).toBe(200);
    expect(csv.headers.get('x-query-cost')).toBe(String(price));
    expect(csv.headers.get('ratelimit-remaining')).toBe(String(1_000 - 1 - price));
    expect(csv.headers.get('ratelimit-policy')).toBe('1000;w=60');
  });

  it('refuses an export the budget cannot pay with 429 RATE_LIMITED and Retry-After, after counting and before any row', async () => {
    const price = Math.ceil((await customerCount()) / 100);
    const limited = await budgeted(price, newPrefix());
    const before = statements.length;
    const refused = await download(baseUrl(limited), '/export/customers');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(refused.headers.get('content-disposition')).toBeNull();
    expect(JSON.parse(refused.text)).toEqual({
      error: { code: 'RATE_LIMITED', message: expect.stringContaining('Rate limit reached') },
    });
    // One statement counted the rows; no batch was read.
    const ran = statements.slice(before);
    expect(ran).toHaveLength(1);
    expect(ran[0]).toMatch(/count\(\*\)/);
    expect(ran.join('\n')).not.toMatch(/v_customer_analytics/);
  });

  it.runIf(has('redis', 'an export budget shared by two gateways'))(
    'draws GraphQL and exports from one budget shared through Redis by every gateway',
    async () => {
      const prefix = newPrefix();
      const [first, second] = [await budgeted(40, prefix), await budgeted(40, prefix)];
      const page = await first.post({ query: '{ products(first: 5) { edges { node { name } } } }' });
      const left = Number(page.headers['ratelimit-remaining']);
      expect(left).toBeLessThan(40 - 1);
      // 1 on arrival + 1 for a handful of rows, on the other gateway, from what the first one left.
      const small = await download(baseUrl(second), '/export/customers?search=acme');
      expect(small.status).toBe(200);
      expect(small.headers.get('ratelimit-remaining')).toBe(String(left - 2));
      const whole = await download(baseUrl(second), '/export/customers');
      expect(whole.status).toBe(429);
      expect((await first.post({ query: '{ dashboard { totalRevenue } }' })).status).toBe(429);
    },
  );
});

describe('a shop without sales', () => {
  it('answers every export with its header alone, the revenue file named for no data', async () => {
    const empty = await createTestDatabase();
    const emptyGateway = await startTestGateway(empty.handle, {}, {}, { overHttp: true });
    try {
      const emptyBase = baseUrl(emptyGateway);
      for (const kind of ['customers', 'products', 'revenue']) {
        const csv = await download(emptyBase, `/export/${kind}`);
        expect(csv.status).toBe(200);
        expect(parseCsv(csv.text).rows).toEqual([]);
        expect((await download(emptyBase, `/export/${kind}?format=ndjson`)).text).toBe('');
      }
      expect((await download(emptyBase, '/export/revenue?granularity=MONTH')).headers.get('content-disposition')).toBe(
        'attachment; filename="revenue-month-no-data.csv"',
      );
      // With both ends given, the days are there, zero-filled, as in GraphQL.
      const given = parseCsv((await download(emptyBase, '/export/revenue?from=2025-01-01&to=2025-01-03')).text).rows;
      expect(given).toEqual(['2025-01-01', '2025-01-02', '2025-01-03'].map((day) => [day, '0.00', '0', '0.00', '0']));
    } finally {
      await emptyGateway.close();
      await empty.drop();
    }
  });
});

describe('a gateway in another report zone than its database', () => {
  it('refuses every export with 503 SERVICE_UNAVAILABLE in the export error shape, saying why', async () => {
    const jerusalem = await createTestDatabase({ reportTimezone: 'Asia/Jerusalem' });
    const zone = new ReportZoneCheck('UTC', () => readDatabaseReportZone(jerusalem.handle.db), {
      info: () => undefined,
      error: () => undefined,
    });
    await zone.check();
    const utcGateway = await startTestGateway(jerusalem.handle, {}, { reportZone: zone }, { overHttp: true });
    try {
      for (const kind of ['customers', 'products', 'revenue']) {
        const refused = await download(baseUrl(utcGateway), `/export/${kind}`);
        expect(refused.status).toBe(503);
        expect(refused.headers.get('retry-after')).toBe('5');
        expect(JSON.parse(refused.text)).toEqual({
          error: {
            code: 'SERVICE_UNAVAILABLE',
            message: expect.stringMatching(
              /^This gateway does not serve reports now: REPORT_TIMEZONE is UTC, but the database reports in Asia\/Jerusalem/,
            ),
          },
        });
      }
    } finally {
      await utcGateway.close();
      await jerusalem.drop();
    }
  });
});
