import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runApiKeyCommand } from '../../src/auth/api-key-command.js';
import { findActiveApiKey } from '../../src/auth/api-key.repository.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { authConfig } from './auth-fixtures.js';

let database: TestDatabase;
let gateway: TestGateway;

beforeAll(async () => {
  database = await createTestDatabase();
  gateway = await startTestGateway(database.handle, authConfig);
});

afterAll(async () => {
  await gateway?.close();
  await database?.drop();
});

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runApiKeyCommand(database.handle.db, argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

const DASHBOARD = { query: '{ dashboard { totalTransactions } }' };

describe('npm run api-key', () => {
  it('creates a key, printing it once, that the gateway accepts', async () => {
    const created = await run('create', '--name', 'etl', '--role', 'analyst');
    expect(created.code).toBe(0);
    const key = created.out[1]!;
    expect(key).toMatch(/^mpk_[\w-]{43}$/);
    expect((await findActiveApiKey(database.handle.db, key))?.role).toBe('analyst');
    expect((await gateway.post(DASHBOARD, { 'x-api-key': key })).status).toBe(200);

    const listed = await run('list');
    expect(listed.code).toBe(0);
    expect(listed.out).toHaveLength(1);
    expect(listed.out[0]).toMatch(/\tetl\tanalyst\tcreated .*\tactive$/);
    expect(listed.out.join('\n')).not.toContain(key);
  });

  it('revokes a key by name, after which the gateway answers 401', async () => {
    const key = (await run('create', '--name', 'old-service', '--role', 'viewer')).out[1]!;
    const revoked = await run('revoke', '--name', 'old-service');
    expect(revoked.code).toBe(0);
    const answer = await gateway.post(DASHBOARD, { 'x-api-key': key });
    expect(answer.status).toBe(401);
    expect(answer.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await run('list')).out.some((line) => /\told-service\tviewer\t.*\trevoked /.test(line))).toBe(true);
  });

  it('revokes a key by id', async () => {
    const created = await run('create', '--name', 'by-id', '--role', 'admin');
    const id = /created API key (\d+)/.exec(created.out[0]!)![1]!;
    expect((await run('revoke', '--id', id)).code).toBe(0);
    expect(await findActiveApiKey(database.handle.db, created.out[1]!)).toBeUndefined();
  });

  it('refuses an unknown role and an unknown key to revoke', async () => {
    expect((await run('create', '--name', 'x', '--role', 'root')).code).toBe(2);
    const missing = await run('revoke', '--name', 'nobody');
    expect(missing.code).toBe(1);
    expect(missing.err[0]).toContain('no active API key');
  });
});
