import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runApiKeyCommand } from '../../src/auth/api-key-command.js';
import { ANONYMOUS, type Principal, type Role } from '../../src/auth/principal.js';
import { loadConfig } from '../../src/config/config.js';
import { introspectionRule, mayIntrospect, servesSandbox } from '../../src/graphql/introspection.js';
import { JWT_AUDIENCE, JWT_ISSUER, JWT_SECRET, bearer, signToken } from '../auth/auth-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { has } from '../support/requirements.js';
import { Received, connect } from '../subscriptions/subscription-fixtures.js';

// Who may read the schema, through the real start-up path with NODE_ENV=production: introspection and
// "Did you mean ...?" by role, INTROSPECTION forcing it for everybody, and SANDBOX serving Apollo Sandbox.

const REQUIRED = {
  NODE_ENV: 'production',
  AUTH_MODE: 'required',
  JWT_SECRET,
  JWT_ISSUER,
  JWT_AUDIENCE,
  JWT_ROLE_CLAIM: 'role',
};

/** The gateways are processes of their own that share the test's database and its API keys. */
const processes = has('postgres-server', 'five gateway processes sharing one database and its API keys');

let database: TestDatabase;
/** AUTH_MODE=required, nothing else set. */
let required: GatewayProcess;
/** AUTH_MODE=required with SANDBOX=true. */
let requiredSandbox: GatewayProcess;
/** AUTH_MODE=required with INTROSPECTION=false (and SANDBOX=true, which does not override it). */
let introspectionOff: GatewayProcess;
/** AUTH_MODE=required with INTROSPECTION=true. */
let introspectionOn: GatewayProcess;
/** AUTH_MODE=none with SANDBOX=true. */
let openSandbox: GatewayProcess;
let analystKey: string;

beforeAll(async () => {
  if (!processes) return;
  database = await createTestDatabase();
  const lines: string[] = [];
  const created = await runApiKeyCommand(
    database.handle.db,
    ['create', '--name', 'sandbox-analyst', '--role', 'analyst'],
    {
      out: (line) => lines.push(line),
      err: (line) => lines.push(line),
    },
  );
  expect(created).toBe(0);
  analystKey = lines[1]!;
  const url = { DATABASE_URL: database.url! };
  [required, requiredSandbox, introspectionOff, introspectionOn, openSandbox] = await Promise.all([
    startGatewayProcess({ ...REQUIRED, ...url }),
    startGatewayProcess({ ...REQUIRED, ...url, SANDBOX: 'true' }),
    startGatewayProcess({ ...REQUIRED, ...url, SANDBOX: 'true', INTROSPECTION: 'false' }),
    startGatewayProcess({ ...REQUIRED, ...url, INTROSPECTION: 'true' }),
    startGatewayProcess({ NODE_ENV: 'production', AUTH_MODE: 'none', SANDBOX: 'true', ...url }),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([required, requiredSandbox, introspectionOff, introspectionOn, openSandbox].map((g) => g?.kill()));
  await database?.drop();
});

interface Answer {
  status: number;
  cache: string | null;
  body: { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: string } }[] };
}

async function post(gateway: GatewayProcess, query: string, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${gateway.base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query }),
  });
  return {
    status: response.status,
    cache: response.headers.get('x-cache'),
    body: (await response.json()) as Answer['body'],
  };
}

const as = async (role: Role) => bearer(await signToken({ role, subject: `${role}@example.test` }));
const codes = (answer: Answer) => answer.body.errors?.map((error) => error.extensions?.code);

const SCHEMA = '{ __schema { queryType { name } } }';
const TYPE = '{ customerType: __type(name: "Customer") { name } }';
const THROUGH_FRAGMENT =
  'query Peek { ...Peek } fragment Peek on Query { ... on Query { __type(name: "Product") { fields { name } } } }';
const TYPO = '{ dashboard { totalRevenu } }';
const WITHOUT_HINT = 'Cannot query field "totalRevenu" on type "Dashboard".';

describe.runIf(processes)('introspection in production with AUTH_MODE=required', () => {
  it('answers an anonymous caller 401 UNAUTHENTICATED before anything runs', async () => {
    const answer = await post(required, SCHEMA);
    expect(answer.status).toBe(401);
    expect(codes(answer)).toEqual(['UNAUTHENTICATED']);
  });

  it('refuses a viewer with INTROSPECTION_DISABLED, however the fields are reached', async () => {
    const viewer = await as('viewer');
    for (const query of [SCHEMA, TYPE, THROUGH_FRAGMENT, '{ s: __schema { types { name } } }']) {
      const answer = await post(required, query, viewer);
      expect(answer.status).toBe(200);
      expect(answer.body.data).toBeUndefined();
      expect(codes(answer)).toEqual(['INTROSPECTION_DISABLED']);
      expect(answer.body.errors?.[0]?.message).toBe(
        'Introspection (__schema, __type) needs the analyst role or higher',
      );
    }
  });

  it('answers an analyst (API key) and an admin (JWT)', async () => {
    const analyst = await post(required, SCHEMA, { 'x-api-key': analystKey });
    expect(analyst.status).toBe(200);
    expect(analyst.body).toMatchObject({ data: { __schema: { queryType: { name: 'Query' } } } });
    expect(analyst.body.errors).toBeUndefined();
    const admin = await post(required, THROUGH_FRAGMENT, await as('admin'));
    expect(admin.body.errors).toBeUndefined();
    expect((admin.body.data?.__type as { fields: { name: string }[] }).fields.map((field) => field.name)).toContain(
      'topCustomers',
    );
  });

  it('keeps __typename for everybody', async () => {
    const answer = await post(
      required,
      '{ __typename dashboard { __typename totalTransactions } }',
      await as('viewer'),
    );
    expect(answer.body.errors).toBeUndefined();
    expect(answer.body.data).toEqual({
      __typename: 'Query',
      dashboard: { __typename: 'Dashboard', totalTransactions: 0 },
    });
  });

  it('never caches an introspection answer, so no refusal or answer crosses roles', async () => {
    const admin = await as('admin');
    const viewer = await as('viewer');
    for (let i = 0; i < 2; i++) {
      const allowed = await post(required, TYPE, admin);
      expect(allowed.body.data).toEqual({ customerType: { name: 'Customer' } });
      expect(allowed.cache).toBe('MISS');
      const refused = await post(required, TYPE, viewer);
      expect(codes(refused)).toEqual(['INTROSPECTION_DISABLED']);
      expect(refused.body.data).toBeUndefined();
    }
    // A figure next to it is cached per role as before.
    await post(required, '{ dashboard { totalTransactions } }', viewer);
    expect((await post(required, '{ dashboard { totalTransactions } }', viewer)).cache).toBe('HIT');
  });

  it('hides "Did you mean ...?" from a viewer and shows it to an analyst', async () => {
    const viewer = await post(required, TYPO, await as('viewer'));
    expect(codes(viewer)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(viewer.body.errors?.[0]?.message).toBe(WITHOUT_HINT);
    const enumHint = await post(required, '{ revenue(granularity: DAYS) { totalRevenue } }', await as('viewer'));
    expect(codes(enumHint)).toEqual(['BAD_USER_INPUT']);
    expect(enumHint.body.errors?.[0]?.message).not.toMatch(/Did you mean/);
    const analyst = await post(required, TYPO, { 'x-api-key': analystKey });
    expect(analyst.body.errors?.[0]?.message).toBe(`${WITHOUT_HINT} Did you mean "totalRevenue"?`);
  });

  it('hides "Did you mean ...?" over WebSocket too, by the socket\'s role', async () => {
    const socketUrl = `${required.base.replace(/^http/, 'ws')}/graphql`;
    const viewer = connect(socketUrl, { authorization: `Bearer ${await signToken({ role: 'viewer' })}` });
    const analyst = connect(socketUrl, { 'x-api-key': analystKey });
    try {
      const typo = 'subscription { dashboardUpdated { totalRevenu } }';
      const [hidden, shown] = [new Received(viewer, typo), new Received(analyst, typo)];
      await Promise.all([hidden.ended(), shown.ended()]);
      expect(hidden.errors?.map((error) => [error.message, error.extensions?.code])).toEqual([
        [WITHOUT_HINT, 'GRAPHQL_VALIDATION_FAILED'],
      ]);
      expect(shown.errors?.[0]?.message).toBe(`${WITHOUT_HINT} Did you mean "totalRevenue"?`);
    } finally {
      await Promise.all([viewer.dispose(), analyst.dispose()]);
    }
  });

  it('serves no Sandbox without SANDBOX', async () => {
    const response = await fetch(`${required.base}/graphql`, { headers: { accept: 'text/html' } });
    expect(response.headers.get('content-type') ?? '').not.toMatch(/^text\/html/);
    expect(await response.text()).not.toContain('EmbeddedSandbox');
    expect((await fetch(`${required.base}/`, { redirect: 'manual', headers: { accept: 'text/html' } })).status).toBe(
      404,
    );
  });
});

describe.runIf(processes)('INTROSPECTION forces the answer for everybody', () => {
  it('INTROSPECTION=false refuses even an admin, and hides suggestions from it', async () => {
    const admin = await as('admin');
    const refused = await post(introspectionOff, SCHEMA, admin);
    expect(codes(refused)).toEqual(['INTROSPECTION_DISABLED']);
    expect(refused.body.errors?.[0]?.message).toBe('Introspection (__schema, __type) is turned off on this gateway');
    expect((await post(introspectionOff, TYPO, admin)).body.errors?.[0]?.message).toBe(WITHOUT_HINT);
  });

  it('INTROSPECTION=true answers a viewer, and shows it suggestions', async () => {
    const viewer = await as('viewer');
    expect((await post(introspectionOn, SCHEMA, viewer)).body).toEqual({
      data: { __schema: { queryType: { name: 'Query' } } },
      extensions: expect.anything(),
    });
    expect((await post(introspectionOn, TYPO, viewer)).body.errors?.[0]?.message).toContain(
      'Did you mean "totalRevenue"?',
    );
  });
});

/** The Sandbox page, and whether every script it loads is allowed by the Content-Security-Policy it is served under. */
async function sandboxPage(gateway: GatewayProcess, path = '/graphql') {
  const response = await fetch(`${gateway.base}${path}`, { headers: { accept: 'text/html' } });
  const html = await response.text();
  const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1] ?? '';
  const scriptSources =
    meta
      .split(';')
      .map((part) => part.trim())
      .find((part) => part.startsWith('script-src '))
      ?.split(/\s+/)
      .slice(1) ?? [];
  const scriptHosts = [...html.matchAll(/<script[^>]* src="(https:\/\/[^/"]+)\//g)].map((match) => match[1]!);
  return { response, html, scriptSources, scriptHosts };
}

describe.runIf(processes)('SANDBOX=true in production', () => {
  it('serves the Sandbox page to a browser without credentials, even with AUTH_MODE=required', async () => {
    const { response, html, scriptSources, scriptHosts } = await sandboxPage(requiredSandbox);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(html).toContain('id="embeddableSandbox"');
    expect(html).toContain('new window.EmbeddedSandbox');
    // Nothing sent by Apollo in production: no telemetry, no schema polled on the analyst's budget.
    expect(html).toContain('"runTelemetry":false');
    expect(html).toContain('"pollForSchemaUpdates":false');
    // The page loads Apollo's script from its CDN: the page's own policy allows exactly that host, and the
    // gateway sends no policy of its own that would forbid it.
    expect(scriptHosts).toEqual(['https://embeddable-sandbox.cdn.apollographql.com']);
    expect(scriptSources).toContain('https://embeddable-sandbox.cdn.apollographql.com');
    expect(response.headers.get('content-security-policy')).toBeNull();
  });

  it("sends a browser opening the gateway's address to the Sandbox", async () => {
    const redirect = await fetch(`${requiredSandbox.base}/`, { redirect: 'manual', headers: { accept: 'text/html' } });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('/graphql');
    const followed = await sandboxPage(requiredSandbox, '/');
    expect(followed.response.status).toBe(200);
    expect(followed.html).toContain('new window.EmbeddedSandbox');
  });

  it('keeps the roles with AUTH_MODE=required: a viewer is still refused, an analyst answered', async () => {
    expect(codes(await post(requiredSandbox, SCHEMA, await as('viewer')))).toEqual(['INTROSPECTION_DISABLED']);
    expect((await post(requiredSandbox, SCHEMA, { 'x-api-key': analystKey })).body.data).toEqual({
      __schema: { queryType: { name: 'Query' } },
    });
    expect((await post(requiredSandbox, SCHEMA)).status).toBe(401);
  });

  it('with AUTH_MODE=none lets anybody introspect and see suggestions', async () => {
    const { response } = await sandboxPage(openSandbox);
    expect(response.status).toBe(200);
    const answer = await post(openSandbox, TYPE);
    expect(answer.body.errors).toBeUndefined();
    expect(answer.body.data).toEqual({ customerType: { name: 'Customer' } });
    expect((await post(openSandbox, TYPO)).body.errors?.[0]?.message).toContain('Did you mean "totalRevenue"?');
  });
});

describe('the rule', () => {
  const principal = (role: Role): Principal => ({ kind: 'jwt', id: `jwt:${role}`, role });
  const allowed = (env: Record<string, string>) => {
    const config = loadConfig({ JWT_SECRET, JWT_ISSUER, JWT_AUDIENCE, ...env });
    const rule = introspectionRule(config);
    const callers =
      config.auth.mode === 'required' ? (['viewer', 'analyst', 'admin'] as const).map(principal) : [ANONYMOUS];
    const label = (caller: Principal) => (caller === ANONYMOUS ? 'anybody' : caller.role);
    return {
      who: callers.filter((caller) => mayIntrospect(rule, caller)).map(label),
      sandbox: servesSandbox(config.server),
    };
  };

  it('follows NODE_ENV, AUTH_MODE, SANDBOX and INTROSPECTION', () => {
    expect(allowed({})).toEqual({ who: ['anybody'], sandbox: true });
    expect(allowed({ AUTH_MODE: 'required' })).toEqual({ who: ['viewer', 'analyst', 'admin'], sandbox: true });
    expect(allowed({ SANDBOX: 'false' })).toEqual({ who: ['anybody'], sandbox: false });
    expect(allowed({ NODE_ENV: 'production' })).toEqual({ who: [], sandbox: false });
    expect(allowed({ NODE_ENV: 'production', SANDBOX: 'true' })).toEqual({ who: ['anybody'], sandbox: true });
    expect(allowed({ NODE_ENV: 'production', AUTH_MODE: 'required' })).toEqual({
      who: ['analyst', 'admin'],
      sandbox: false,
    });
    expect(allowed({ NODE_ENV: 'production', AUTH_MODE: 'required', SANDBOX: 'true' })).toEqual({
      who: ['analyst', 'admin'],
      sandbox: true,
    });
    expect(allowed({ NODE_ENV: 'production', AUTH_MODE: 'required', INTROSPECTION: 'true' })).toEqual({
      who: ['viewer', 'analyst', 'admin'],
      sandbox: false,
    });
    expect(allowed({ AUTH_MODE: 'required', INTROSPECTION: 'false' })).toEqual({ who: [], sandbox: true });
  });

  it('refuses a SANDBOX that is not true or false', () => {
    expect(() => loadConfig({ SANDBOX: 'yes' })).toThrow(/SANDBOX/);
  });
});
