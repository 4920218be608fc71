import { SignJWT } from 'jose';
import { send, type GraphQLBody, type GraphQLRequest } from './http.js';
import type { Catalogue, LoadOutcome, LoadScenario, OutcomeIndex, ProbeScenario, Target } from './scenario.js';
import { DistinctRanges, newRangeEachTime, newTextEachTime } from './varying-requests.js';

// What `npm run bench` measures: databases, servers, scenarios (in run order) and the targets of the speed
// issue. To add a scenario, add a service if it needs a new kind of server (another gateway configuration
// is one `env` away), then a LoadScenario (autocannon against one request) or a ProbeScenario (any other
// measurement, e.g. subscription push latency), and, when it sets a goal, a Target.

// ---------------------------------------------------------------------------------------------- requests

export const DASHBOARD_QUERY = /* GraphQL */ `
  query Dashboard {
    dashboard {
      totalRevenue
      totalTransactions
      completedTransactions
      pendingTransactions
      cancelledTransactions
      avgOrderValue
      topProducts(limit: 5) {
        product {
          id
          sku
          name
        }
        revenue
        unitsSold
        transactionCount
      }
      recentTrend(days: 30) {
        date
        totalRevenue
        transactionCount
        avgTransactionValue
        uniqueCustomers
      }
    }
  }
`;

/** The dashboard of one range, both ends given: what an analyst's dashboard sends when the range changes. */
export const DASHBOARD_RANGE_QUERY = /* GraphQL */ `
  query DashboardRange($from: Date!, $to: Date!) {
    dashboard(from: $from, to: $to) {
      totalRevenue
      totalTransactions
      completedTransactions
      pendingTransactions
      cancelledTransactions
      avgOrderValue
      topProducts(limit: 5) {
        product {
          id
          sku
          name
        }
        revenue
        unitsSold
        transactionCount
      }
      recentTrend(days: 30) {
        date
        totalRevenue
        transactionCount
        avgTransactionValue
        uniqueCustomers
      }
    }
  }
`;

/** The peer's closest equivalent: the same figures from three plain views in one GraphQL request. */
export const PEER_DASHBOARD_QUERY = /* GraphQL */ `
  query PeerDashboard {
    totals: allDashboardTotals {
      nodes {
        totalRevenue
        totalTransactions
        completedTransactions
        pendingTransactions
        cancelledTransactions
        avgOrderValue
      }
    }
    topProducts: allProductRevenues(first: 5, orderBy: [REVENUE_DESC, PRODUCT_ID_ASC]) {
      nodes {
        productId
        sku
        name
        revenue
        unitsSold
        transactionCount
      }
    }
    recentTrend: allRecentTrends(orderBy: DAY_ASC) {
      nodes {
        day
        totalRevenue
        transactionCount
        avgTransactionValue
        uniqueCustomers
      }
    }
  }
`;

export const CUSTOMERS_QUERY = /* GraphQL */ `
  query CustomersPage($first: Int) {
    customers(first: $first) {
      edges {
        node {
          name
          lifetimeValue
          favoriteProduct {
            name
          }
        }
      }
    }
  }
`;

export const MONTHLY_REVENUE_QUERY = /* GraphQL */ `
  query MonthlyRevenue {
    revenue(granularity: MONTH) {
      totalRevenue
      totalTransactions
      avgDailyRevenue
      points {
        date
        totalRevenue
        transactionCount
        avgTransactionValue
        uniqueCustomers
      }
    }
  }
`;

// The secured gateway: AUTH_MODE=required with an HS256 secret, and a rate budget in Redis it never spends.
const BENCH_JWT = {
  JWT_SECRET: 'bench-jwt-secret-0123456789-abcdefghijkl',
  JWT_ISSUER: 'https://bench.issuer',
  JWT_AUDIENCE: 'marketpulse-bench',
};
const benchToken = await new SignJWT({ role: 'viewer' })
  .setProtectedHeader({ alg: 'HS256' })
  .setSubject('bench@example.test')
  .setIssuer(BENCH_JWT.JWT_ISSUER)
  .setAudience(BENCH_JWT.JWT_AUDIENCE)
  .setExpirationTime('12h')
  .sign(new TextEncoder().encode(BENCH_JWT.JWT_SECRET));
const signedIn = (request: GraphQLRequest): GraphQLRequest => ({
  ...request,
  headers: { ...request.headers, authorization: `Bearer ${benchToken}` },
});

const dashboard: GraphQLRequest = { query: DASHBOARD_QUERY };
// What RESULTS.md shows of the varying requests; the rounds send a new range (and text) each time.
const dashboardRange: GraphQLRequest = {
  query: DASHBOARD_RANGE_QUERY,
  variables: { from: 'YYYY-MM-DD', to: 'YYYY-MM-DD' },
};
const peerDashboard: GraphQLRequest = { query: PEER_DASHBOARD_QUERY };
const customersPage = (first: number): GraphQLRequest => ({ query: CUSTOMERS_QUERY, variables: { first } });
const monthlyRevenue: GraphQLRequest = { query: MONTHLY_REVENUE_QUERY };
const typename: GraphQLRequest = { query: '{ __typename }' };

// ------------------------------------------------------------------------------------------------ checks

// Answers are checked field by field, so a loose type reads better here than a generated one per query.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return -- the checks below read answers field by field */
type Loose = any;

function checkDashboard(data: Loose): string | undefined {
  const d = data?.dashboard;
  if (!d || typeof d.totalRevenue !== 'string') return 'dashboard.totalRevenue missing';
  if (d.totalTransactions <= 0) return 'dashboard.totalTransactions is 0: empty database?';
  if (d.topProducts?.length !== 5) return `topProducts has ${d.topProducts?.length} entries, expected 5`;
  if (d.recentTrend?.length !== 30) return `recentTrend has ${d.recentTrend?.length} points, expected 30`;
  return undefined;
}

/** A dashboard of a range: a top list of at most 5 (a short range may sell fewer products), 30 days ending at `to`. */
function checkDashboardRange(data: Loose, request: GraphQLRequest): string | undefined {
  const d = data?.dashboard;
  if (!d || typeof d.totalRevenue !== 'string') return 'dashboard.totalRevenue missing';
  if (!Array.isArray(d.topProducts) || d.topProducts.length > 5)
    return `topProducts has ${d.topProducts?.length} entries, expected at most 5`;
  if (d.recentTrend?.length !== 30) return `recentTrend has ${d.recentTrend?.length} points, expected 30`;
  const to = request.variables?.to;
  if (d.recentTrend[29].date !== to) return `recentTrend ends at ${d.recentTrend[29].date}, expected ${String(to)}`;
  return undefined;
}

function checkPeerDashboard(data: Loose): string | undefined {
  if (data?.totals?.nodes?.length !== 1) return 'totals: expected one row';
  if (data.topProducts?.nodes?.length !== 5)
    return `topProducts has ${data.topProducts?.nodes?.length} rows, expected 5`;
  if (data.recentTrend?.nodes?.length !== 30)
    return `recentTrend has ${data.recentTrend?.nodes?.length} rows, expected 30`;
  return undefined;
}

const checkCustomers = (size: number) => (data: Loose) => {
  const edges = data?.customers?.edges;
  if (edges?.length !== size) return `customers page has ${edges?.length} edges, expected ${size}`;
  if (edges.some((edge: Loose) => typeof edge.node?.lifetimeValue !== 'string'))
    return 'a customer without lifetimeValue';
  return undefined;
};

function checkMonthly(data: Loose): string | undefined {
  const points = data?.revenue?.points;
  if (!Array.isArray(points) || points.length < 12)
    return `revenue.points has ${points?.length} months, expected 12 or more`;
  return undefined;
}

const checkTypename = (data: Loose) => (data?.__typename === 'Query' ? undefined : `__typename is ${data?.__typename}`);

/** The figures both dashboards answer, in one shape, so the peer's answer can be compared with the gateway's. */
function dashboardFigures(data: Loose) {
  const d = data.dashboard;
  return {
    totals: [
      d.totalRevenue,
      d.totalTransactions,
      d.completedTransactions,
      d.pendingTransactions,
      d.cancelledTransactions,
      d.avgOrderValue,
    ],
    top: d.topProducts.map((p: Loose) => [p.product.sku, p.revenue, p.unitsSold, p.transactionCount]),
    trend: d.recentTrend.map((p: Loose) => [
      p.date,
      p.totalRevenue,
      p.transactionCount,
      p.avgTransactionValue,
      p.uniqueCustomers,
    ]),
  };
}

function peerDashboardFigures(data: Loose) {
  const t = data.totals.nodes[0];
  return {
    totals: [
      t.totalRevenue,
      t.totalTransactions,
      t.completedTransactions,
      t.pendingTransactions,
      t.cancelledTransactions,
      t.avgOrderValue,
    ],
    top: data.topProducts.nodes.map((p: Loose) => [p.sku, p.revenue, p.unitsSold, p.transactionCount]),
    trend: data.recentTrend.nodes.map((p: Loose) => [
      p.day,
      p.totalRevenue,
      p.transactionCount,
      p.avgTransactionValue,
      p.uniqueCustomers,
    ]),
  };
}

// --------------------------------------------------------------------------------------------- scenarios

const load = (scenario: Omit<LoadScenario, 'kind'>): LoadScenario => ({ kind: 'load', ...scenario });

/**
 * The uncached dashboard as analysts cause it, on a gateway with its cache on: a new range each time (the
 * response cache misses, the parsed document is reused), and a new text each time (nothing is reused).
 */
function cacheMisses(database: '20k' | '1m', size: string): LoadScenario[] {
  const service = `gateway-${database}-cache`;
  return [
    load({
      id: `dashboard-${database}-new-range`,
      title: `dashboard(from, to), ${size}, cache miss: a new range each time`,
      service,
      request: dashboardRange,
      vary: (days) => newRangeEachTime(DASHBOARD_RANGE_QUERY, days),
      check: checkDashboardRange,
      expectCacheMiss: true,
    }),
    load({
      id: `dashboard-${database}-new-text`,
      title: `dashboard(from, to), ${size}, cache miss: a new query text each time`,
      service,
      request: dashboardRange,
      vary: (days) => newTextEachTime(DASHBOARD_RANGE_QUERY, days),
      check: checkDashboardRange,
      expectCacheMiss: true,
    }),
  ];
}

const statementsPerCustomersPage: ProbeScenario = {
  kind: 'probe',
  id: 'statements-customers-page',
  title: 'SQL statements per request (cache off, 10k)',
  services: ['gateway-10k-counted'],
  async run(ctx) {
    const gateway = await ctx.service('gateway-10k-counted');
    const counter = gateway.statements!;
    const problems: string[] = [];
    /** Statements of one request, the same in three tries (after one that warms the pool). */
    const count = async (
      label: string,
      requests: GraphQLRequest | (() => GraphQLRequest),
      check: (data: unknown, request: GraphQLRequest) => string | undefined,
    ) => {
      const seen = new Set<number>();
      for (let i = 0; i < 4; i += 1) {
        const request = typeof requests === 'function' ? requests() : requests;
        const before = counter.statements;
        const response = await send(gateway.url, request);
        const body = JSON.parse(response.bytes.toString('utf8')) as GraphQLBody;
        const problem =
          response.status !== 200 || body.errors
            ? `HTTP ${response.status} ${JSON.stringify(body.errors)}`
            : check(body.data, request);
        if (problem) problems.push(`${label}: ${problem}`);
        if (i > 0) seen.add(counter.statements - before);
      }
      if (seen.size > 1) problems.push(`${label}: statement count varied between tries: ${[...seen].join(', ')}`);
      return Math.max(...seen);
    };
    const first5 = await count('customers(first: 5)', customersPage(5), checkCustomers(5));
    const first50 = await count('customers(first: 50)', customersPage(50), checkCustomers(50));
    const dashboardStatements = await count('dashboard', dashboard, checkDashboard);
    // A new range each try: what an uncached dashboard costs however the gateway might reuse earlier work.
    const ranges = new DistinctRanges((await ctx.database('10k')).days);
    const rangeStatements = await count(
      'dashboard(from, to)',
      () => ({ query: DASHBOARD_RANGE_QUERY, variables: { ...ranges.next() } }),
      checkDashboardRange,
    );
    const monthlyStatements = await count('revenue(granularity: MONTH)', monthlyRevenue, checkMonthly);
    return {
      rows: [
        { label: 'customers page, first: 5', value: String(first5) },
        { label: 'customers page, first: 50', value: String(first50) },
        { label: 'dashboard (totals, top 5, 30-day trend)', value: String(dashboardStatements) },
        { label: 'dashboard(from, to), the same fields, a new range each time', value: String(rangeStatements) },
        { label: 'monthly revenue series', value: String(monthlyStatements) },
      ],
      values: {
        customersFirst5: first5,
        customersFirst50: first50,
        dashboard: dashboardStatements,
        dashboardRange: rangeStatements,
        monthlyRevenue: monthlyStatements,
      },
      problems,
    };
  },
};

export const catalogue: Catalogue = {
  databases: [
    { id: '10k', name: 'mp_bench_10k', transactions: 10_000 },
    { id: '20k', name: 'mp_bench_20k', transactions: 20_000 },
    { id: '1m', name: 'mp_bench_1m', transactions: 1_000_000 },
  ],
  services: {
    'gateway-10k': { kind: 'gateway', database: '10k', cache: 'off' },
    'gateway-10k-cache': { kind: 'gateway', database: '10k', cache: 'on' },
    'gateway-10k-counted': { kind: 'gateway', database: '10k', cache: 'off', countStatements: true },
    'gateway-10k-secured': {
      kind: 'gateway',
      database: '10k',
      cache: 'off',
      redis: true,
      env: { AUTH_MODE: 'required', ...BENCH_JWT, RATE_LIMIT_POINTS: '1000000000' },
    },
    'gateway-20k-cache': { kind: 'gateway', database: '20k', cache: 'on' },
    'gateway-1m': { kind: 'gateway', database: '1m', cache: 'off' },
    'gateway-1m-cache': { kind: 'gateway', database: '1m', cache: 'on' },
    ceiling: { kind: 'ceiling', bodyFrom: { service: 'gateway-10k', request: dashboard } },
    'postgraphile-10k': { kind: 'postgraphile', database: '10k' },
    'postgraphile-20k': { kind: 'postgraphile', database: '20k' },
    'postgraphile-1m': { kind: 'postgraphile', database: '1m' },
  },
  scenarios: [
    load({
      id: 'ceiling',
      title: 'ceiling: bare node:http, dashboard bytes',
      service: 'ceiling',
      request: dashboard,
      check: checkDashboard,
    }),
    load({
      id: 'gateway-typename',
      title: 'gateway `{ __typename }`',
      service: 'gateway-10k',
      request: typename,
      check: checkTypename,
    }),
    load({
      id: 'dashboard-10k-off',
      title: 'dashboard, 10k, cache off',
      service: 'gateway-10k',
      request: dashboard,
      check: checkDashboard,
    }),
    load({
      id: 'dashboard-10k-hit',
      title: 'dashboard, 10k, cache hit',
      service: 'gateway-10k-cache',
      request: dashboard,
      check: checkDashboard,
      expectCacheHit: true,
      sameAnswerAs: { scenario: 'dashboard-10k-off' },
    }),
    load({
      id: 'typename-secured',
      title: 'gateway `{ __typename }`, JWT + rate budget in Redis',
      service: 'gateway-10k-secured',
      request: signedIn(typename),
      check: checkTypename,
    }),
    load({
      id: 'dashboard-10k-secured',
      title: 'dashboard, 10k, cache off, JWT + rate budget in Redis',
      service: 'gateway-10k-secured',
      request: signedIn(dashboard),
      check: checkDashboard,
      sameAnswerAs: { scenario: 'dashboard-10k-off' },
    }),
    statementsPerCustomersPage,
    load({
      id: 'postgraphile-10k',
      title: 'PostGraphile dashboard equivalent, 10k',
      service: 'postgraphile-10k',
      request: peerDashboard,
      check: checkPeerDashboard,
      sameAnswerAs: { scenario: 'dashboard-10k-off', project: peerDashboardFigures, projectOther: dashboardFigures },
    }),
    ...cacheMisses('20k', '20k'),
    load({
      id: 'postgraphile-20k',
      title: 'PostGraphile dashboard equivalent, 20k',
      service: 'postgraphile-20k',
      request: peerDashboard,
      check: checkPeerDashboard,
    }),
    load({
      id: 'dashboard-1m-off',
      title: 'dashboard, 1M, cache off',
      service: 'gateway-1m',
      request: dashboard,
      check: checkDashboard,
    }),
    ...cacheMisses('1m', '1M'),
    load({
      id: 'customers-1m-off',
      title: 'customers page (first: 20, favoriteProduct), 1M, cache off',
      service: 'gateway-1m',
      request: customersPage(20),
      check: checkCustomers(20),
    }),
    load({
      id: 'revenue-monthly-1m-off',
      title: 'monthly revenue series, 1M, cache off',
      service: 'gateway-1m',
      request: monthlyRevenue,
      check: checkMonthly,
    }),
    load({
      id: 'dashboard-1m-hit',
      title: 'dashboard, 1M, cache hit',
      service: 'gateway-1m-cache',
      request: dashboard,
      check: checkDashboard,
      expectCacheHit: true,
      sameAnswerAs: { scenario: 'dashboard-1m-off' },
    }),
    load({
      id: 'postgraphile-1m',
      title: 'PostGraphile dashboard equivalent, 1M',
      service: 'postgraphile-1m',
      request: peerDashboard,
      check: checkPeerDashboard,
      sameAnswerAs: { scenario: 'dashboard-1m-off', project: peerDashboardFigures, projectOther: dashboardFigures },
    }),
  ],
  targets: [],
};

// ------------------------------------------------------------------------------------------------ targets

const ms = (value: number) => `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms`;
const rps = (value: number) => `${value < 100 ? value.toFixed(1) : Math.round(value).toLocaleString('en-US')} req/s`;
const times = (value: number) => `${value < 10 ? value.toFixed(2) : value.toFixed(1)}×`;

function both(results: OutcomeIndex, a: string, b: string): [LoadOutcome, LoadOutcome] | undefined {
  const first = results.load(a);
  const second = results.load(b);
  return first && second ? [first, second] : undefined;
}

function throughputRatio(id: string, label: string, subject: string, reference: string, atLeast: number): Target {
  return {
    id,
    label,
    evaluate(results) {
      const pair = both(results, subject, reference);
      if (!pair) return undefined;
      const [s, r] = pair;
      if (!(r.median.reqPerSec > 0))
        return { actual: `${r.id} completed no answer within a round: no ratio`, ok: false };
      const ratio = s.median.reqPerSec / r.median.reqPerSec;
      const cacheNote =
        s.samples.cache === 'absent' && s.expectCacheHit ? ' (no cache in this build: served uncached)' : '';
      return {
        actual: `${rps(s.median.reqPerSec)} vs ${rps(r.median.reqPerSec)} = ${times(ratio)} (need ≥ ${atLeast}×)${cacheNote}`,
        ok: ratio >= atLeast,
      };
    },
  };
}

/** `subject`'s p99 at most `atMost` × `reference`'s: latency that does not grow with the data. */
function p99Ratio(id: string, label: string, subject: string, reference: string, atMost: number): Target {
  return {
    id,
    label,
    evaluate(results) {
      const pair = both(results, subject, reference);
      if (!pair) return undefined;
      const [s, r] = pair;
      const ratio = s.median.p99Ms / r.median.p99Ms;
      return {
        actual: `${ms(s.median.p99Ms)} vs ${ms(r.median.p99Ms)} = ${times(ratio)} (need ≤ ${atMost}×)`,
        ok: ratio <= atMost,
      };
    },
  };
}

/** The goal for the uncached path: one statement per report query, nothing per checkout or per request. */
const STATEMENTS_PER_RANGE_DASHBOARD = 3;

catalogue.targets.push(
  // The uncached path: dashboards that miss the cache, against the peer and from 20k to 1M transactions.
  throughputRatio(
    'miss-range-vs-peer-20k',
    'Dashboard cache miss, new range each time, ≥ 5× PostGraphile req/s at 20k',
    'dashboard-20k-new-range',
    'postgraphile-20k',
    5,
  ),
  throughputRatio(
    'miss-text-vs-peer-20k',
    'Dashboard cache miss, new text each time, ≥ 5× PostGraphile req/s at 20k',
    'dashboard-20k-new-text',
    'postgraphile-20k',
    5,
  ),
  throughputRatio(
    'miss-range-vs-peer-1m',
    'Dashboard cache miss, new range each time, ≥ 200× PostGraphile req/s at 1M',
    'dashboard-1m-new-range',
    'postgraphile-1m',
    200,
  ),
  throughputRatio(
    'miss-text-vs-peer-1m',
    'Dashboard cache miss, new text each time, ≥ 200× PostGraphile req/s at 1M',
    'dashboard-1m-new-text',
    'postgraphile-1m',
    200,
  ),
  p99Ratio(
    'miss-range-p99-flat',
    'Dashboard cache miss, new range each time: p99 at 1M ≤ 1.5 × p99 at 20k',
    'dashboard-1m-new-range',
    'dashboard-20k-new-range',
    1.5,
  ),
  p99Ratio(
    'miss-text-p99-flat',
    'Dashboard cache miss, new text each time: p99 at 1M ≤ 1.5 × p99 at 20k',
    'dashboard-1m-new-text',
    'dashboard-20k-new-text',
    1.5,
  ),
  {
    id: 'statements-range-dashboard',
    label: `${STATEMENTS_PER_RANGE_DASHBOARD} SQL statements per uncached dashboard(from, to) (one per report query)`,
    evaluate(results) {
      const probe = results.probe('statements-customers-page');
      const statements = probe?.values.dashboardRange;
      if (typeof statements !== 'number') return undefined;
      return { actual: String(statements), ok: statements === STATEMENTS_PER_RANGE_DASHBOARD };
    },
  },
  throughputRatio(
    'typename-vs-ceiling',
    '`{ __typename }` ≥ 0.3× the bare node:http ceiling req/s',
    'gateway-typename',
    'ceiling',
    0.3,
  ),
  {
    id: 'dashboard-1m-p50-flat',
    label: 'Dashboard 1M cache off: p50 ≤ 1.5 × its 10k p50',
    evaluate(results) {
      const pair = both(results, 'dashboard-1m-off', 'dashboard-10k-off');
      if (!pair) return undefined;
      const [big, small] = pair;
      const ratio = big.median.p50Ms / small.median.p50Ms;
      return {
        actual: `${ms(big.median.p50Ms)} vs ${ms(small.median.p50Ms)} = ${times(ratio)} (need ≤ 1.5×)`,
        ok: ratio <= 1.5,
      };
    },
  },
  {
    id: 'dashboard-1m-p99',
    label: 'Dashboard 1M cache off: p99 < 50 ms',
    evaluate(results) {
      const big = results.load('dashboard-1m-off');
      return big && { actual: ms(big.median.p99Ms), ok: big.median.p99Ms < 50 };
    },
  },
  throughputRatio(
    'dashboard-vs-peer-10k',
    'Dashboard cache off ≥ 5× PostGraphile req/s at 10k',
    'dashboard-10k-off',
    'postgraphile-10k',
    5,
  ),
  throughputRatio(
    'dashboard-vs-peer-1m',
    'Dashboard cache off ≥ 100× PostGraphile req/s at 1M',
    'dashboard-1m-off',
    'postgraphile-1m',
    100,
  ),
  throughputRatio(
    'auth-cost-dashboard',
    'Dashboard with JWT and rate limits ≥ 0.9× without (10k, cache off)',
    'dashboard-10k-secured',
    'dashboard-10k-off',
    0.9,
  ),
  throughputRatio(
    'auth-cost-typename',
    '`{ __typename }` with JWT and rate limits ≥ 0.5× without (the fixed cost per request)',
    'typename-secured',
    'gateway-typename',
    0.5,
  ),
  throughputRatio(
    'cache-hit-10k',
    'Dashboard cache hit ≥ 0.9× `{ __typename }` req/s (10k)',
    'dashboard-10k-hit',
    'gateway-typename',
    0.9,
  ),
  throughputRatio(
    'cache-hit-1m',
    'Dashboard cache hit ≥ 0.9× `{ __typename }` req/s (1M)',
    'dashboard-1m-hit',
    'gateway-typename',
    0.9,
  ),
  {
    id: 'statements-constant',
    label: 'SQL statements per customers page constant in the page size',
    evaluate(results) {
      const probe = results.probe('statements-customers-page');
      if (!probe) return undefined;
      const { customersFirst5: small, customersFirst50: large } = probe.values;
      return {
        actual: `first: 5 → ${small}, first: 50 → ${large}`,
        ok: small === large && probe.problems.length === 0,
      };
    },
  },
  {
    id: 'zero-errors',
    label: 'Zero errors in every run',
    evaluate(results) {
      let errors = 0;
      const where: string[] = [];
      for (const outcome of results.all) {
        const n = outcome.kind === 'load' ? outcome.errors : outcome.kind === 'probe' ? outcome.problems.length : 1;
        if (n > 0) where.push(`${outcome.id}: ${n.toLocaleString('en-US')}`);
        errors += n;
      }
      return {
        actual: errors === 0 ? '0' : `${errors.toLocaleString('en-US')} (${where.join(', ')})`,
        ok: errors === 0,
      };
    },
  },
);
