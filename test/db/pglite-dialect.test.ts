import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../src/db/database-handle.js';
import { openEmbedded } from '../../src/db/pglite-connector.js';

// Always on PGlite, whatever the suite's database: the embedded database must answer Kysely as node-postgres
// does, and the suite may well run on a real PostgreSQL.

describe('the embedded database through Kysely', () => {
  let handle: DatabaseHandle;

  beforeAll(async () => {
    handle = await openEmbedded(undefined);
    await handle.runScript(
      handle.db,
      `CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL); INSERT INTO notes VALUES (1, 'a'), (2, 'b'), (3, 'c');`,
    );
  });

  afterAll(async () => {
    await handle?.close();
  });

  it('counts the rows an UPDATE, a DELETE and an INSERT touched, as on PostgreSQL', async () => {
    const updated = await sql`UPDATE notes SET body = 'x' WHERE id <= 2`.execute(handle.db);
    expect(updated.numAffectedRows).toBe(2n);
    const notes = handle.db.withTables<{ notes: { id: number; body: string } }>();
    const deleted = await notes.deleteFrom('notes').where('id', '=', 3).executeTakeFirst();
    expect(deleted.numDeletedRows).toBe(1n);
    const inserted = await sql`INSERT INTO notes VALUES (4, 'd'), (5, 'e')`.execute(handle.db);
    expect(inserted.numAffectedRows).toBe(2n);
    const selected = await sql`SELECT * FROM notes`.execute(handle.db);
    expect(selected.numAffectedRows).toBeUndefined();
  });

  it("leaves a failed statement's parameters out of its error, so that logging it shows no customer data", async () => {
    const failure = await sql`INSERT INTO notes_elsewhere (id, body) VALUES (${6}, ${'customer 4711'})`
      .execute(handle.db)
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as { code?: string }).code).toBe('42P01');
    expect(JSON.stringify(failure)).not.toContain('4711');
  });
});
