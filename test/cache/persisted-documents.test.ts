import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadPersistedDocuments } from '../../src/cache/persisted-documents.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('the persisted-documents manifest', () => {
  it('holds every committed operation under the APQ key of its own SHA-256', () => {
    const documents = loadPersistedDocuments();
    expect(documents.size).toBeGreaterThanOrEqual(4);
    for (const [key, query] of documents) expect(key).toBe(`apq:${sha256(query)}`);
    expect([...documents.values()].some((query) => query.includes('query Dashboard('))).toBe(true);
  });

  it('refuses a manifest whose hash does not match its document', async () => {
    const file = path.join(await mkdtemp(path.join(tmpdir(), 'mp-manifest-')), 'persisted-documents.json');
    const query = '{ dashboard { totalRevenue } }';
    await writeFile(file, JSON.stringify({ [`sha256:${sha256(`${query} `)}`]: query }));
    expect(() => loadPersistedDocuments(file)).toThrow(/does not match its document/);
  });
});
