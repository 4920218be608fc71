import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboard, insertSale } from '../cache/cache-fixtures.js';
import { DASHBOARD_AND_CUSTOMERS, authConfig, bearer, signToken } from './auth-fixtures.js';
import {
  startGatewayWithCache,
  uniquePrefix,
  type CachedGateway,
  type GatewayWithCache,
} from '../support/gateway-with-cache.js';

let setup: GatewayWithCache;
let gateway: CachedGateway;

beforeAll(async () => {
  setup = await startGatewayWithCache({
    store: 'memory',
    prefix: uniquePrefix('auth-cache-scope'),
    seed: (database) => insertSale(database, '25.00', 2),
    config: authConfig,
  });
  gateway = setup.gateway;
});

afterAll(async () => {
  await setup?.close();
});

type Cached = { extensions?: { cache?: { hit?: boolean } } };
const hit = (body: Cached) => body.extensions?.cache?.hit === true;

describe('the response cache with AUTH_MODE=required', () => {
  it("never caches customer-level answers, so a viewer cannot get an analyst's", async () => {
    const analyst = bearer(await signToken({ role: 'analyst', subject: 'ana' }));
    const viewer = bearer(await signToken({ role: 'viewer', subject: 'vic' }));
    const query = { query: DASHBOARD_AND_CUSTOMERS };

    const first = await gateway.post<{ customers: unknown }>(query, analyst);
    expect(first.body.errors).toBeUndefined();
    const again = await gateway.post<{ customers: unknown }>(query, analyst);
    expect(hit(again.body)).toBe(false);
    expect(again.body.data).toEqual(first.body.data);

    const asViewer = await gateway.post<{ customers: unknown }>(query, viewer);
    expect(hit(asViewer.body)).toBe(false);
    expect(asViewer.body.data?.customers).toBeNull();
    expect(asViewer.body.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
  });

  it('never gives one role the answer cached for another, where the answers differ', async () => {
    // The role is part of every cache key: principals of one role share stored answers, roles never do.
    const payload = { query: '{ products(first: 2) { edges { node { name } } } }' };
    const viewer = await gateway.post(payload, bearer(await signToken({ role: 'viewer', subject: 'v1' })));
    expect(hit(viewer.body)).toBe(false);
    expect(hit((await gateway.post(payload, bearer(await signToken({ role: 'viewer', subject: 'v2' })))).body)).toBe(
      true,
    );
    const analyst = await gateway.post(payload, bearer(await signToken({ role: 'analyst', subject: 'a1' })));
    expect(hit(analyst.body)).toBe(false);
    expect(analyst.body.data).toEqual(viewer.body.data);
  });

  it('shares an answer between principals of one role and not across roles', async () => {
    const payload = dashboard({ from: '2025-01-01' });
    const first = await gateway.post(payload, bearer(await signToken({ role: 'viewer', subject: 'one' })));
    expect(hit(first.body)).toBe(false);
    const sameRole = await gateway.post(payload, bearer(await signToken({ role: 'viewer', subject: 'two' })));
    expect(hit(sameRole.body)).toBe(true);
    const otherRole = await gateway.post(payload, bearer(await signToken({ role: 'admin', subject: 'three' })));
    expect(hit(otherRole.body)).toBe(false);
    expect(otherRole.body.data).toEqual(first.body.data);
  });

  it('never answers a request without credentials from the cache', async () => {
    const payload = dashboard({ from: '2025-02-01' });
    const viewer = bearer(await signToken({ role: 'viewer' }));
    await gateway.post(payload, viewer);
    expect(hit((await gateway.post(payload, viewer)).body)).toBe(true);

    const anonymous = await gateway.post(payload);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['x-cache']).toBeUndefined();
    expect(anonymous.body.data).toBeUndefined();
    const badToken = await gateway.post(payload, bearer(await signToken({ role: 'viewer', secret: 'x'.repeat(40) })));
    expect(badToken.status).toBe(401);
  });
});
