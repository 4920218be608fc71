import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { warnIfUnprotected } from '../../src/auth/exposure-warning.js';
import { loadConfig, redactConfig } from '../../src/config/config.js';
import { createGateway } from '../../src/app/create-gateway.js';
import { createApiKey } from '../../src/auth/api-key.repository.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { testConfig } from '../support/config.js';
import { JWT_SECRET, authConfig, signToken } from './auth-fixtures.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.drop();
});

describe('secrets', () => {
  it('never writes tokens or API keys to the log, even at trace level', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const gateway = await createGateway(testConfig(authConfig), database.handle, pino({ level: 'trace' }, sink));
    try {
      const token = await signToken({ role: 'viewer', issuer: 'https://elsewhere.test' });
      const { key } = await createApiKey(database.handle.db, 'logged', 'viewer');
      const headers = { 'content-type': 'application/json' };
      const payload = JSON.stringify({ query: '{ dashboard { totalTransactions } }' });
      await gateway.app.inject({
        method: 'POST',
        url: '/graphql',
        headers: { ...headers, authorization: `Bearer ${token}` },
        payload,
      });
      await gateway.app.inject({ method: 'POST', url: '/graphql', headers: { ...headers, 'x-api-key': key }, payload });
      await gateway.app.inject({
        method: 'POST',
        url: '/graphql',
        headers: { ...headers, 'x-api-key': `${key}x` },
        payload,
      });
      const log = lines.join('');
      expect(log).toContain('/graphql');
      expect(log).not.toContain(token);
      expect(log).not.toContain(key);
    } finally {
      await gateway.app.close();
    }
  });

  it('warns loudly at start when production runs without authentication, and only then', () => {
    const warnings: string[] = [];
    const logger = { warn: (message: string) => warnings.push(message) };
    expect(warnIfUnprotected(loadConfig({ NODE_ENV: 'production' }), logger)).toBe(true);
    expect(warnings[0]).toMatch(/AUTH_MODE=none in production: ANYONE WHO CAN REACH THIS PORT/);
    expect(warnIfUnprotected(loadConfig({}), logger)).toBe(false);
    expect(
      warnIfUnprotected(
        loadConfig({
          NODE_ENV: 'production',
          AUTH_MODE: 'required',
          JWT_SECRET,
          JWT_ISSUER: 'https://i',
          JWT_AUDIENCE: 'a',
        }),
        logger,
      ),
    ).toBe(false);
    expect(warnings).toHaveLength(1);
  });

  it('masks JWT_SECRET in the configuration logged at start-up', () => {
    const config = loadConfig({
      AUTH_MODE: 'required',
      JWT_SECRET,
      JWT_ISSUER: 'https://issuer.test',
      JWT_AUDIENCE: 'marketpulse',
    });
    expect(JSON.stringify(redactConfig(config))).not.toContain(JWT_SECRET);
  });

  it('refuses tokens without an issuer and an audience to enforce', () => {
    expect(() => loadConfig({ AUTH_MODE: 'required', JWT_SECRET })).toThrow(
      /JWT_ISSUER, JWT_AUDIENCE: both are required/,
    );
  });

  it('refuses a short JWT_SECRET without printing it', () => {
    expect(() => loadConfig({ JWT_SECRET: 'short-secret' })).toThrow(/JWT_SECRET: must be at least 32 characters/);
    try {
      loadConfig({ JWT_SECRET: 'short-secret' });
    } catch (error) {
      expect(String(error)).not.toContain('short-secret');
    }
  });
});
