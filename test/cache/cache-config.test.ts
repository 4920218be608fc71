import { describe, expect, it } from 'vitest';
import { loadConfig, redactConfig } from '../../src/config/config.js';
import { configProblems as problems } from '../support/config.js';

describe('cache configuration', () => {
  it('caches for a minute in the process by default', () => {
    const config = loadConfig({});
    expect(config.redis.connection).toBeUndefined();
    expect(config.cache.ttlSeconds).toBe(60);
    expect(config.redis.commandTimeoutMs).toBe(100);
    expect(config.cache.keyPrefix).toBe('marketpulse:');
  });

  it('takes a TTL of 0 to turn the response cache off', () => {
    expect(loadConfig({ CACHE_TTL_SECONDS: '0' }).cache.ttlSeconds).toBe(0);
  });

  it('reports every bad cache setting at once', () => {
    const found = problems({
      REDIS_URL: 'postgres://localhost/db',
      CACHE_TTL_SECONDS: '-1',
      REDIS_COMMAND_TIMEOUT_MS: '0',
    });
    expect(found.map((problem) => problem.split(':')[0]).sort()).toEqual([
      'CACHE_TTL_SECONDS',
      'REDIS_COMMAND_TIMEOUT_MS',
      'REDIS_URL',
    ]);
  });

  it('never logs the Redis password', () => {
    const config = loadConfig({ REDIS_URL: 'redis://default:s3cret@cache:6379/0' });
    expect(JSON.stringify(redactConfig(config))).not.toContain('s3cret');
    expect(redactConfig(config)).toMatchObject({ redis: { connection: { url: 'redis://default:***@cache:6379/0' } } });
  });
});
