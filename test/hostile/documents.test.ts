import v8 from 'node:v8';
import vm from 'node:vm';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retainedBytes } from '../../src/cache/document-store.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

// Documents padded with comments: comments are not tokens, so the token limit lets any number through. The
// gateway bounds a document's bytes before parsing it, and the memory its parsed documents keep for reuse.

v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

/** Heap in use after full collections: what the process keeps, not what it has yet to free. */
function retainedHeap(): number {
  for (let i = 0; i < 3; i++) collectGarbage();
  return process.memoryUsage().heapUsed;
}

/** A valid, cheap query of about `bytes`, distinct per `index`, padded with one-character comments. */
function padded(index: number, bytes: number, line = '#\n'): string {
  const head = `query Padded${index} { __typename }\n`;
  return `${head}${line.repeat(Math.floor((bytes - head.length) / line.length))}`;
}

const MiB = 2 ** 20;

let database: TestDatabase;
let gateway: TestGateway;

beforeAll(async () => {
  database = await createTestDatabase();
  gateway = await startTestGateway(database.handle);
});

afterAll(async () => {
  await gateway?.close();
  await database?.drop();
});

describe('document size (QUERY_MAX_BYTES, default 32 KiB)', () => {
  it('refuses a document padded with comments to 90 KB with QUERY_TOO_LARGE, before parsing it', async () => {
    const query = padded(1, 90_000, `#${'x'.repeat(998)}\n`);
    const response = await gateway.post({ query });
    expect(response.status).toBe(200);
    expect(response.body.data).toBeUndefined();
    expect(response.body.errors).toEqual([
      {
        message: expect.stringMatching(/^Query document is \d+ bytes long; at most 32768 are allowed$/),
        extensions: { code: 'QUERY_TOO_LARGE', maxBytes: 32_768, requestId: expect.any(String) },
      },
    ]);
    const strict = await gateway.post({ query }, { accept: 'application/graphql-response+json' });
    expect(strict.status).toBe(400);
    expect(strict.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_LARGE');
  });

  it('counts bytes, not characters, and holds for GET too', async () => {
    // 11,000 Hebrew letters are 22,000 bytes: under the limit as characters, over it as bytes (with the rest).
    const query = `{ products(category: "${'א'.repeat(11_000)}") { totalCount } } # ${'ב'.repeat(6_000)}`;
    expect(query.length).toBeLessThan(32_768);
    expect((await gateway.post({ query })).body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_LARGE');
    const get = await gateway.app.inject({
      method: 'GET',
      url: `/graphql?${new URLSearchParams({ query: padded(2, 40_000) }).toString()}`,
      headers: { 'apollo-require-preflight': '1' },
    });
    expect(get.json().errors[0].extensions.code).toBe('QUERY_TOO_LARGE');
  });

  it('answers a document just under the limit', async () => {
    const response = await gateway.post({ query: padded(3, 32_000) });
    expect(response.body).toMatchObject({ data: { __typename: 'Query' } });
  });
});

describe('parsed documents kept for reuse (DOCUMENT_CACHE_MB)', () => {
  it('counts the source text and every token, comments included, in what a document keeps', () => {
    const small = parse('{ dashboard { totalRevenue } }');
    const longComments = parse(padded(4, 30_000, `#${'x'.repeat(998)}\n`));
    const shortComments = parse(padded(5, 30_000));
    expect(retainedBytes(longComments)).toBeGreaterThanOrEqual(30_000);
    // 15,000 comment tokens of about 90 bytes each, on top of the text.
    expect(retainedBytes(shortComments)).toBeGreaterThan(15_000 * 90);
    expect(retainedBytes(small)).toBeLessThan(10_000);
  });

  it('keeps the heap within its bound however many distinct padded documents arrive', async () => {
    // The size limit raised out of the way, so that every document is parsed, validated and offered to the store.
    const roomy = await startTestGateway(database.handle, {
      QUERY_MAX_BYTES: 100_000,
      DOCUMENT_CACHE_MB: 4,
      RATE_LIMIT_POINTS: 0,
    });
    try {
      await roomy.post({ query: padded(0, 100) });
      const before = retainedHeap();
      // Each is about 1.4 MB once parsed: 150 of them kept would be over 200 MB.
      for (let i = 1; i <= 150; i++) {
        const response = await roomy.post({ query: padded(i, 30_000) });
        expect(response.body.data).toEqual({ __typename: 'Query' });
      }
      const medium = `#${'x'.repeat(98)}\n`;
      for (let i = 151; i <= 400; i++) await roomy.post({ query: padded(i, 30_000, medium) });
      const grown = retainedHeap() - before;
      // The store holds at most 4 MiB of what documents keep; the rest is slack for the runtime's own growth.
      expect(grown).toBeLessThan(24 * MiB);
    } finally {
      await roomy.close();
    }
  });
});
