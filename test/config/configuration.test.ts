import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, loadConfig, redactConfig } from '../../src/config/config.js';
import { configProblems as problems } from '../support/config.js';
import { gatewayCommand, startGatewayProcess } from '../support/gateway-process.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('configuration', () => {
  it('documents every variable in the README configuration table', () => {
    const readme = readFileSync(new URL('README.md', `file://${ROOT}`), 'utf8');
    const documented = new Set(
      [...readme.matchAll(/^\| `([A-Z_]+)`(?: \/ `([A-Z_]+)`)? \|/gm)].flatMap((m) => [m[1], m[2]]).filter(Boolean),
    );
    expect(CONFIG_VARIABLES.filter((name) => !documented.has(name))).toEqual([]);
  });

  it('has operational defaults: pool, timeouts and shutdown', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      database: { poolMax: 10, connectTimeoutMs: 5_000, statementTimeoutMs: 30_000 },
      server: { healthTimeoutMs: 2_000, shutdown: { delayMs: 0, graceMs: 10_000 } },
    });
  });

  it('reports every bad operational setting at once', () => {
    const found = problems({
      PG_POOL_MAX: '0',
      PG_STATEMENT_TIMEOUT_MS: 'soon',
      SHUTDOWN_DELAY_MS: '-1',
      SHUTDOWN_GRACE_MS: '0',
      LOG_LEVEL: 'loud',
    });
    expect(found.map((problem) => problem.split(':')[0]).sort()).toEqual(
      ['LOG_LEVEL', 'PG_POOL_MAX', 'PG_STATEMENT_TIMEOUT_MS', 'SHUTDOWN_DELAY_MS', 'SHUTDOWN_GRACE_MS'].sort(),
    );
  });

  it('redacts every secret from the configuration it prints', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://app:db-s3cret@db:5432/marketpulse',
      DATABASE_DIRECT_URL: 'postgres://app:direct-s3cret@db-primary:5432/marketpulse',
      REDIS_URL: 'redis://default:redis-s3cret@cache:6379',
      CURSOR_SECRET: 'cursor-s3cret-0123456789',
      JWT_SECRET: 'jwt-s3cret-0123456789-0123456789-0123',
      JWT_ISSUER: 'https://issuer.test',
      JWT_AUDIENCE: 'marketpulse',
    });
    const printed = JSON.stringify(redactConfig(config));
    expect(printed).not.toMatch(/s3cret/);
  });

  it('makes `npm start` exit 1 listing every problem, before connecting to anything', () => {
    const { command, args, cwd } = gatewayCommand();
    const result = spawnSync(command, args, {
      cwd,
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        PATH: process.env.PATH,
        PORT: 'eighty',
        PG_POOL_MAX: '-3',
        SHUTDOWN_GRACE_MS: 'never',
        DATABASE_URL: 'mysql://root:hunter2@db/x',
      },
    });
    expect(result.status).toBe(1);
    for (const name of ['PORT', 'PG_POOL_MAX', 'SHUTDOWN_GRACE_MS', 'DATABASE_URL'])
      expect(result.stderr).toContain(`${name}:`);
    expect(result.stderr + result.stdout).not.toContain('hunter2');
  });
});

describe('PostgreSQL connection settings', () => {
  it('connects directly by default, with named prepared statements', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://app@db:5432/marketpulse' });
    expect(config.database.preparedStatements).toBe(true);
    expect(config.database.postgres).toEqual({
      url: 'postgres://app@db:5432/marketpulse',
      directUrl: 'postgres://app@db:5432/marketpulse',
      pooled: false,
      readUrls: [],
    });
    expect(loadConfig({}).database.postgres).toBeUndefined();
  });

  it('takes DATABASE_URL for a pooler when DATABASE_DIRECT_URL names another URL', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://app@pgbouncer:6432/marketpulse',
      DATABASE_DIRECT_URL: 'postgresql://app@db:5432/marketpulse',
      PG_PREPARED_STATEMENTS: 'false',
    });
    expect(config.database.postgres).toEqual({
      url: 'postgres://app@pgbouncer:6432/marketpulse',
      directUrl: 'postgresql://app@db:5432/marketpulse',
      pooled: true,
      readUrls: [],
    });
    expect(config.database.preparedStatements).toBe(false);
  });

  it('reads report replicas from DATABASE_READ_URL, a comma-separated list, and masks their passwords', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://app@db:5432/marketpulse',
      DATABASE_READ_URL:
        ' postgres://app:r1-s3cret@replica-1:5432/marketpulse , postgresql://app@replica-2/marketpulse,',
      READ_REPLICA_MAX_WAIT_MS: '50',
    });
    expect(config.database.postgres?.readUrls).toEqual([
      'postgres://app:r1-s3cret@replica-1:5432/marketpulse',
      'postgresql://app@replica-2/marketpulse',
    ]);
    expect(config.database.readReplicaMaxWaitMs).toBe(50);
    expect(loadConfig({}).database.readReplicaMaxWaitMs).toBe(0);
    expect(redactConfig(config)).toMatchObject({
      database: {
        postgres: {
          readUrls: ['postgres://app:***@replica-1:5432/marketpulse', 'postgresql://app@replica-2/marketpulse'],
        },
      },
    });
  });

  it('names every bad replica URL, and refuses replicas without DATABASE_URL', () => {
    expect(
      problems({
        DATABASE_URL: 'postgres://app@db/marketpulse',
        DATABASE_READ_URL: 'postgres://app@r1/marketpulse,redis://cache:6379,replica-2',
        READ_REPLICA_MAX_WAIT_MS: '-1',
      }),
    ).toEqual([
      "DATABASE_READ_URL: must be a comma-separated list of postgres:// or postgresql:// URLs; not one: 'redis://cache:6379', 'replica-2'",
      expect.stringMatching(/^READ_REPLICA_MAX_WAIT_MS: /),
    ]);
    expect(
      problems({
        DATABASE_URL: 'postgres://app@db/marketpulse',
        DATABASE_READ_URL: 'mysql://app:s3cret@r1/marketpulse',
      })[0],
    ).not.toContain('s3cret');
    expect(problems({ DATABASE_READ_URL: 'postgres://app@r1/marketpulse' })).toEqual([
      'DATABASE_READ_URL: only used with DATABASE_URL, which is not set (the embedded database has no replicas)',
    ]);
  });

  it('reports every bad connection setting at once, beside the others', () => {
    expect(
      problems({ DATABASE_DIRECT_URL: 'redis://cache:6379', PG_PREPARED_STATEMENTS: 'yes', PG_POOL_MAX: '0' })
        .map((problem) => problem.split(':')[0])
        .sort(),
    ).toEqual(['DATABASE_DIRECT_URL', 'DATABASE_DIRECT_URL', 'PG_POOL_MAX', 'PG_PREPARED_STATEMENTS']);
    expect(problems({ DATABASE_DIRECT_URL: 'postgres://app@db/marketpulse' })).toEqual([
      'DATABASE_DIRECT_URL: only used with DATABASE_URL, which is not set (the embedded database has no URL)',
    ]);
    expect(problems({ DATABASE_URL: 'redis://cache:6379' })).toEqual([
      'DATABASE_URL: must be a postgres:// or postgresql:// URL',
    ]);
  });

  it('masks the passwords of both URLs in the start-up log of a production gateway', async () => {
    // Nothing answers on port 1: the gateway starts anyway (not ready), which is all the log needs.
    const gateway = await startGatewayProcess({
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://app:pooled-s3cret@127.0.0.1:1/marketpulse',
      DATABASE_DIRECT_URL: 'postgres://app:direct-s3cret@127.0.0.1:1/marketpulse?sslmode=disable',
      PG_PREPARED_STATEMENTS: 'false',
      PG_CONNECT_TIMEOUT_MS: '200',
    });
    try {
      const starting = gateway.logs.find((entry) => entry.msg === 'starting MarketPulse') as
        { config: Record<string, unknown> } | undefined;
      // The logger leaves database URLs out altogether, whatever logs them; the printed configuration masks them too.
      expect(starting?.config).toMatchObject({
        database: { postgres: { url: '[redacted]', directUrl: '[redacted]' }, preparedStatements: false },
      });
      expect(gateway.output.tail()).not.toContain('s3cret');
    } finally {
      await gateway.kill();
    }
  });
});
