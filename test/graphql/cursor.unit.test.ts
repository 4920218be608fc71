import 'reflect-metadata';
import fc from 'fast-check';
import type { GraphQLError } from 'graphql';
import { Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, DummyDriver, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import {
  isKeysetPosition,
  keysetOrderBy,
  keysetWhere,
  type KeysetOrder,
  type KeysetPosition,
} from '../../src/db/keyset.js';
import { CursorCodec } from '../../src/graphql/cursor.js';
import { toPageRequest } from '../../src/graphql/pagination.js';

// Cursors and keyset windows without a database: what a cursor carries, what is refused, and the SQL a window
// compiles to. Walking real connections with them: test/graphql/connections.test.ts.

const SECRET = 'test-cursor-secret-0123456789';
const codec = new CursorCodec(SECRET);
const SCOPE = 'customers|LIFETIME_VALUE|DESC|';

const byValue: KeysetOrder = {
  column: 'lifetime_value',
  direction: 'desc',
  nullable: false,
  valueType: 'numeric',
  idColumn: 'id',
};
const byLastPurchase: KeysetOrder = {
  column: 'last_purchase_at',
  direction: 'desc',
  nullable: true,
  valueType: 'timestamptz',
  idColumn: 'id',
};

/** The error `run` throws, which must be a GraphQLError. */
function thrown(run: () => unknown): GraphQLError {
  try {
    run();
  } catch (error) {
    return error as GraphQLError;
  }
  throw new Error('nothing was thrown');
}

function expectRefused(run: () => unknown, argument = 'after') {
  const error = thrown(run);
  expect(error.extensions).toEqual({ code: 'BAD_USER_INPUT', argumentName: argument });
  expect(error.message).toMatch(new RegExp(`^Argument "${argument}" `));
}

const positions = fc.record({
  value: fc.option(fc.string({ maxLength: 100, unit: 'grapheme' }), { nil: null }),
  id: fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }).map(String),
});

describe('a cursor', () => {
  it('gives back the position it was made from, for any position and scope (fast-check)', () => {
    fc.assert(
      fc.property(positions, fc.string({ maxLength: 300 }), (position, scope) => {
        expect(codec.decode('after', codec.encode(scope, position), scope)).toEqual(position);
      }),
      { numRuns: 50 },
    );
  });

  it('is opaque: URL-safe text that shows neither the scope nor the search text', () => {
    const cursor = codec.encode('customers|NAME|ASC|כהן', { value: 'דנה כהן', id: '42' });
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(cursor.split('.')[0]!, 'base64url').toString('utf8')).not.toContain('NAME');
  });

  it('is refused once any character of it is changed (fast-check)', () => {
    const cursor = codec.encode(SCOPE, { value: '1234.50', id: '17' });
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
    fc.assert(
      fc.property(fc.nat({ max: cursor.length - 1 }), fc.constantFrom(...alphabet), (at, replacement) => {
        fc.pre(cursor[at] !== replacement);
        const tampered = `${cursor.slice(0, at)}${replacement}${cursor.slice(at + 1)}`;
        expectRefused(() => codec.decode('after', tampered, SCOPE));
      }),
      { numRuns: 60 },
    );
  });

  it('is refused when made with another secret', () => {
    const foreign = new CursorCodec('another-secret-0123456789abc').encode(SCOPE, { value: '10.00', id: '1' });
    expectRefused(() => codec.decode('before', foreign, SCOPE), 'before');
  });

  it('is refused truncated, extended, empty or huge', () => {
    const cursor = codec.encode(SCOPE, { value: '10.00', id: '1' });
    for (const bad of [
      cursor.slice(0, -1),
      `${cursor}.x`,
      `${cursor}A`,
      '',
      '.',
      cursor.split('.')[0]!,
      'A'.repeat(20_000),
    ]) {
      expectRefused(() => codec.decode('after', bad, SCOPE));
    }
  });

  it('is refused for another ordering or filter, saying so', () => {
    const cursor = codec.encode(SCOPE, { value: '10.00', id: '1' });
    for (const other of ['customers|LIFETIME_VALUE|ASC|', 'customers|NAME|DESC|', 'customers|LIFETIME_VALUE|DESC|a']) {
      const error = thrown(() => codec.decode('after', cursor, other));
      expect(error.extensions).toEqual({ code: 'BAD_USER_INPUT', argumentName: 'after' });
      expect(error.message).toBe(
        'Argument "after" belongs to another ordering or filter; request the first page again with the new arguments',
      );
    }
  });
});

describe('a page request', () => {
  it('decodes its cursor for the ordering it belongs to', () => {
    const after = codec.encode(SCOPE, { value: '99.90', id: '7' });
    expect(toPageRequest({ first: 5, after }, codec, SCOPE, byValue)).toEqual({
      backward: false,
      limit: 5,
      after: { value: '99.90', id: '7' },
      before: undefined,
      fromCursor: true,
    });
    expect(toPageRequest({}, codec, SCOPE, byValue)).toMatchObject({ backward: false, limit: 20, fromCursor: false });
    expect(toPageRequest({ last: 3 }, codec, SCOPE, byValue)).toMatchObject({ backward: true, limit: 3 });
  });

  it('refuses a signed position the ordering cannot compare, as it refuses a tampered cursor', () => {
    // Only somebody who knows the secret can sign these; they must still never reach PostgreSQL.
    for (const position of [
      { value: 'not a number', id: '7' },
      { value: null, id: '7' },
      { value: '1.00', id: '9223372036854775808' },
    ]) {
      const after = codec.encode(SCOPE, position);
      expectRefused(() => toPageRequest({ first: 5, after }, codec, SCOPE, byValue));
    }
  });

  it('refuses page sizes outside 0..100 and arguments that go both ways, naming the argument', () => {
    expectRefused(() => toPageRequest({ first: 101 }, codec, SCOPE, byValue), 'first');
    expectRefused(() => toPageRequest({ last: -1 }, codec, SCOPE, byValue), 'last');
    expectRefused(() => toPageRequest({ first: 1, last: 1 }, codec, SCOPE, byValue), 'last');
    const cursor = codec.encode(SCOPE, { value: '1.00', id: '1' });
    expectRefused(() => toPageRequest({ last: 1, after: cursor }, codec, SCOPE, byValue), 'after');
    expectRefused(() => toPageRequest({ first: 1, before: cursor }, codec, SCOPE, byValue), 'before');
  });
});

describe('a keyset position', () => {
  const at = (order: KeysetOrder, value: string | null, id = '1') => isKeysetPosition(order, { value, id });

  it('holds a bigint id', () => {
    expect(at(byValue, '1.00', '9223372036854775807')).toBe(true);
    expect(at(byValue, '1.00', '-9223372036854775808')).toBe(true);
    expect(at(byValue, '1.00', '9223372036854775808')).toBe(false);
    expect(at(byValue, '1.00', '1e3')).toBe(false);
  });

  it('holds null only where the column is nullable', () => {
    expect(at(byLastPurchase, null)).toBe(true);
    expect(at(byValue, null)).toBe(false);
  });

  it('holds a timestamp as PostgreSQL prints one, on a day the calendar has', () => {
    expect(at(byLastPurchase, '2025-11-20 09:15:00.123+00')).toBe(true);
    expect(at(byLastPurchase, '1999-01-08 04:05:06+05:30')).toBe(true);
    expect(at(byLastPurchase, '2024-02-29 00:00:00+00')).toBe(true);
    expect(at(byLastPurchase, '2025-02-29 00:00:00+00')).toBe(false);
    expect(at(byLastPurchase, '2025-11-20T09:15:00Z')).toBe(false);
    expect(at(byLastPurchase, '2025-11-20 24:00:00+00')).toBe(false);
  });

  it('holds text without NUL, up to 2,000 characters', () => {
    const byName: KeysetOrder = { ...byValue, column: 'name', valueType: 'text' };
    expect(at(byName, 'א'.repeat(2_000))).toBe(true);
    expect(at(byName, 'א'.repeat(2_001))).toBe(false);
    expect(at(byName, 'a\u0000b')).toBe(false);
  });
});

describe('a keyset window', () => {
  // Compiles without a connection: the SQL text and its parameters are what is under test.
  const db = new Kysely<Record<string, never>>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (kysely) => new PostgresIntrospector(kysely),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  });
  const compiled = (fragment: ReturnType<typeof sql>) => fragment.compile(db);
  const where = (order: KeysetOrder, window: { after?: KeysetPosition; before?: KeysetPosition }) =>
    compiled(sql`${keysetWhere(order, { ...window, backward: false })!}`);

  it('orders backward in the exact reverse of forward, nulls last forward and first backward', () => {
    expect(compiled(sql`${keysetOrderBy(byLastPurchase, false)}`).sql).toBe(
      '"last_purchase_at" DESC NULLS LAST, "id" ASC',
    );
    expect(compiled(sql`${keysetOrderBy(byLastPurchase, true)}`).sql).toBe(
      '"last_purchase_at" ASC NULLS FIRST, "id" DESC',
    );
    expect(compiled(sql`${keysetOrderBy(byValue, false)}`).sql).toBe('"lifetime_value" DESC, "id" ASC');
  });

  it('seeks past a position with the value and the id as parameters, never as text', () => {
    const after = where(byValue, { after: { value: "1'; DROP TABLE customers; --", id: '5' } });
    expect(after.sql).toBe(
      '("lifetime_value" <= $1 AND ("lifetime_value" < $2 OR ("lifetime_value" = $3 AND "id" > $4)))',
    );
    expect(after.parameters).toEqual([
      "1'; DROP TABLE customers; --",
      "1'; DROP TABLE customers; --",
      "1'; DROP TABLE customers; --",
      '5',
    ]);
  });

  it('takes the rows after a null as the later nulls, and before it everything not null', () => {
    expect(where(byLastPurchase, { after: { value: null, id: '3' } }).sql).toBe(
      '("last_purchase_at" IS NULL AND "id" > $1)',
    );
    expect(where(byLastPurchase, { before: { value: null, id: '3' } }).sql).toBe(
      '("last_purchase_at" IS NOT NULL OR "id" < $1)',
    );
  });

  it('is no condition at all without a cursor', () => {
    expect(keysetWhere(byValue, { backward: false })).toBeUndefined();
  });
});
