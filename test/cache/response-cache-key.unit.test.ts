import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ANONYMOUS, type Principal } from '../../src/auth/principal.js';
import { splitStoredAnswer } from '../../src/http/cache-hit-shortcut.plugin.js';
import { cacheScope, PUBLIC_SCOPE } from '../../src/cache/cache-scope.js';
import { responseCacheKey, type CacheKeyContext } from '../../src/cache/response-cache-key.js';

// How the response cache tells answers apart and reads them back, without a store: the key of an answer (the
// request as sent, plus what the answer depends on besides it) and the split of a stored answer that the hit
// shortcut serves without Apollo. The cache at work: test/cache/response-cache.test.ts, cache-hit-shortcut.test.ts.

const CONTEXT: CacheKeyContext = { dataVersion: '42', reportTimezone: 'UTC', scope: PUBLIC_SCOPE };
const QUERY = 'query Dashboard($from: Date) { dashboard(from: $from) { totalRevenue } }';
const key = (
  overrides: {
    source?: string;
    operationName?: string | null;
    variables?: Record<string, unknown>;
    context?: Partial<CacheKeyContext>;
  } = {},
) =>
  responseCacheKey(
    overrides.source ?? QUERY,
    overrides.operationName === undefined ? 'Dashboard' : overrides.operationName,
    overrides.variables ?? { from: '2025-01-01' },
    { ...CONTEXT, ...overrides.context },
  );

const principal = (role: Principal['role'], id = 'jwt:someone'): Principal => ({ kind: 'jwt', id, role });

describe('the key of an answer', () => {
  it('is a SHA-256 in hex, the same for the same request and context', () => {
    expect(key()).toMatch(/^[0-9a-f]{64}$/);
    expect(key()).toBe(key());
  });

  it('differs with the query text, the operation name and the variables', () => {
    const keys = [
      key(),
      key({ source: `${QUERY} ` }),
      key({ operationName: null }),
      key({ operationName: 'Other' }),
      key({ variables: { from: '2025-01-02' } }),
      key({ variables: {} }),
      key({ variables: { from: '2025-01-01', to: null } }),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('differs with the data version, the report time zone and the scope, so that none is served across them', () => {
    const keys = [
      key(),
      key({ context: { dataVersion: '43' } }),
      key({ context: { reportTimezone: 'Asia/Jerusalem' } }),
      key({ context: { scope: 'role:viewer' } }),
      key({ context: { scope: 'role:analyst' } }),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });

  // Variables as content: object keys sorted at every depth, as JSON.
  const canonical = (value: unknown): string =>
    JSON.stringify(value, (_name, inner: unknown) =>
      inner !== null && typeof inner === 'object' && !Array.isArray(inner)
        ? Object.fromEntries(Object.entries(inner).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
        : inner,
    );
  const variables = fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 });

  it('does not depend on the order the variables were written in, at any depth (fast-check)', () => {
    const reversed = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(reversed);
      if (value === null || typeof value !== 'object') return value;
      return Object.fromEntries(
        Object.entries(value)
          .reverse()
          .map(([name, inner]) => [name, reversed(inner)]),
      );
    };
    fc.assert(
      fc.property(variables, (sent) => {
        expect(key({ variables: reversed(sent) as Record<string, unknown> })).toBe(key({ variables: sent }));
      }),
      { numRuns: 50 },
    );
  });

  it('is the same for two requests exactly when their variables hold the same (fast-check)', () => {
    fc.assert(
      fc.property(variables, variables, (a, b) => {
        expect(key({ variables: a }) === key({ variables: b })).toBe(canonical(a) === canonical(b));
      }),
      { numRuns: 50 },
    );
  });

  it('is made for variables nested deeper than JSON.stringify can go', () => {
    let deep: unknown = 'bottom';
    for (let level = 0; level < 5_000; level++) deep = { inner: deep };
    expect(key({ variables: { deep } })).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('the scope of an answer', () => {
  it('is one public scope without authentication', () => {
    expect(cacheScope(ANONYMOUS)).toBe(PUBLIC_SCOPE);
  });

  it('is the role with authentication: callers of one role share answers, roles never do', () => {
    expect(cacheScope(principal('viewer', 'jwt:a'))).toBe(cacheScope(principal('viewer', 'api-key:b')));
    expect(
      new Set(['viewer', 'analyst', 'admin'].map((role) => cacheScope(principal(role as Principal['role'])))),
    ).toEqual(new Set(['role:viewer', 'role:analyst', 'role:admin']));
    // An authenticated admin does not share the anonymous scope of a gateway without authentication.
    expect(cacheScope(principal('admin'))).not.toBe(PUBLIC_SCOPE);
  });
});

describe('splitStoredAnswer', () => {
  const stored = (data: unknown) =>
    JSON.stringify({ data, cachePolicy: { maxAge: 60, scope: 'PUBLIC' }, cacheTime: 1_700_000_000_123 });

  it('takes the data text and the time out of what the response-cache plugin stores', () => {
    const data = { dashboard: { totalRevenue: '1.00', name: 'מחשב נייד' } };
    expect(splitStoredAnswer(stored(data))).toEqual({ data: JSON.stringify(data), cacheTime: 1_700_000_000_123 });
  });

  it('is not fooled by the field names inside the data', () => {
    // Strings cannot hold them unescaped, but aliases can name fields so.
    const data = { a: 1, cachePolicy: { maxAge: 1, cacheTime: 5 }, b: '{"data":' };
    expect(splitStoredAnswer(stored(data))?.data).toBe(JSON.stringify(data));
  });

  it('gives up on any other format, so that Apollo serves the entry', () => {
    expect(splitStoredAnswer('{"cacheTime":1,"data":{}}')).toBeUndefined();
    expect(splitStoredAnswer('{"data":{},"cachePolicy":{}}')).toBeUndefined();
    expect(splitStoredAnswer('not json')).toBeUndefined();
  });

  it('gives back the data text of any answer the plugin stores, whatever the data holds (fast-check)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.nat(), (data, cacheTime) => {
        const text = JSON.stringify({ data, cachePolicy: { maxAge: 60, scope: 'PUBLIC' }, cacheTime });
        expect(splitStoredAnswer(text)).toEqual({ data: JSON.stringify(data), cacheTime });
      }),
      { numRuns: 100 },
    );
  });
});
