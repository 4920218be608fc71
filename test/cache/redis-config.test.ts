import { describe, expect, it } from 'vitest';
import { loadConfig, parseHostPort, redactConfig, type Config } from '../../src/config/config.js';

const redisConnection = (config: Config) => config.redis.connection;
import { configProblems as problems } from '../support/config.js';

const SENTINELS = {
  REDIS_SENTINELS: 'sentinel-1:26379, sentinel-2:26380,[fd00::3]:26381',
  REDIS_SENTINEL_NAME: 'mp-master',
};

/** The variables each problem names (the text before the first colon). */
const named = (env: NodeJS.ProcessEnv) => problems(env).map((problem) => problem.slice(0, problem.indexOf(':')));

describe('Redis connection configuration', () => {
  it('uses no Redis when neither REDIS_URL nor REDIS_SENTINELS is set', () => {
    expect(redisConnection(loadConfig({}))).toBeUndefined();
  });

  it('reads the Sentinels, the master name and the settings of both sides', () => {
    const config = loadConfig({
      ...SENTINELS,
      REDIS_SENTINEL_USERNAME: 'gateway-sentinel',
      REDIS_SENTINEL_PASSWORD: 'sentinel pass',
      REDIS_USERNAME: 'gateway',
      REDIS_PASSWORD: ' data pass ',
      REDIS_DB: '4',
      REDIS_TLS: 'true',
    });
    expect(redisConnection(config)).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 'sentinel-1', port: 26379 },
        { host: 'sentinel-2', port: 26380 },
        { host: 'fd00::3', port: 26381 },
      ],
      masterName: 'mp-master',
      sentinelUsername: 'gateway-sentinel',
      sentinelPassword: 'sentinel pass',
      username: 'gateway',
      // Secrets are taken as given, spaces included.
      password: ' data pass ',
      db: 4,
      tls: true,
    });
  });

  it('connects through Sentinels to database 0 without TLS or passwords by default', () => {
    expect(redisConnection(loadConfig(SENTINELS))).toEqual({
      kind: 'sentinel',
      sentinels: expect.any(Array),
      masterName: 'mp-master',
      db: 0,
      tls: false,
    });
  });

  it('takes host:port with a name, an IPv4 address or a bracketed IPv6 address, nothing else', () => {
    expect(parseHostPort('redis-sentinel.internal:26379')).toEqual({ host: 'redis-sentinel.internal', port: 26379 });
    expect(parseHostPort('10.0.0.7:5000')).toEqual({ host: '10.0.0.7', port: 5000 });
    expect(parseHostPort('[::1]:26379')).toEqual({ host: '::1', port: 26379 });
    for (const malformed of [
      'sentinel',
      'sentinel:',
      ':26379',
      'sentinel:0',
      'sentinel:65536',
      'sentinel:port',
      '::1:26379',
      'a b:1',
      'redis://s:1',
    ]) {
      expect(parseHostPort(malformed), malformed).toBeUndefined();
    }
  });

  it('names every malformed Sentinel address in one problem', () => {
    const found = problems({ REDIS_SENTINELS: 'good:26379,bad,worse:99999', REDIS_SENTINEL_NAME: 'mp-master' });
    expect(found).toEqual([
      "REDIS_SENTINELS: must be a comma-separated list of host:port; not host:port: 'bad', 'worse:99999'",
    ]);
  });

  it('refuses REDIS_URL together with REDIS_SENTINELS, and Sentinels without a master name', () => {
    expect(problems({ ...SENTINELS, REDIS_URL: 'redis://cache:6379' })).toEqual([
      'REDIS_URL, REDIS_SENTINELS: set one of them, not both',
    ]);
    expect(named({ REDIS_SENTINELS: 'sentinel:26379' })).toEqual(['REDIS_SENTINEL_NAME']);
  });

  it('refuses settings that nothing would use', () => {
    expect(
      named({ REDIS_SENTINEL_NAME: 'mp-master', REDIS_SENTINEL_PASSWORD: 'x', REDIS_SENTINEL_USERNAME: 'u' }).sort(),
    ).toEqual(['REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_PASSWORD', 'REDIS_SENTINEL_USERNAME'].sort());
    expect(named({ REDIS_PASSWORD: 'x', REDIS_DB: '1', REDIS_TLS: 'true' }).sort()).toEqual([
      'REDIS_DB',
      'REDIS_PASSWORD',
      'REDIS_TLS',
    ]);
    // Empty values count as unset, as for every other variable.
    expect(
      problems({ REDIS_SENTINELS: '', REDIS_SENTINEL_NAME: '', REDIS_PASSWORD: '', REDIS_DB: ' ', REDIS_TLS: '' }),
    ).toEqual([]);
  });

  it('wants a password with a user name, on either side', () => {
    expect(named({ ...SENTINELS, REDIS_USERNAME: 'gateway', REDIS_SENTINEL_USERNAME: 'gateway-sentinel' })).toEqual([
      'REDIS_USERNAME',
      'REDIS_SENTINEL_USERNAME',
    ]);
  });

  it('refuses a bad database number or TLS flag', () => {
    expect(named({ ...SENTINELS, REDIS_DB: '-1', REDIS_TLS: 'yes' })).toEqual(['REDIS_DB', 'REDIS_TLS']);
    expect(named({ ...SENTINELS, REDIS_DB: 'two' })).toEqual(['REDIS_DB']);
  });

  it('reports the Redis problems together with every other one, even beside a value that does not parse', () => {
    const found = named({
      PORT: 'eighty',
      ...SENTINELS,
      REDIS_URL: 'redis://cache:6379',
      REDIS_DB: 'x',
      REDIS_USERNAME: 'gateway',
    });
    expect(found.sort()).toEqual(['PORT', 'REDIS_DB', 'REDIS_URL, REDIS_SENTINELS', 'REDIS_USERNAME'].sort());
  });

  it('with REDIS_URL, takes the settings the URL does not carry', () => {
    const config = loadConfig({
      REDIS_URL: 'rediss://cache.internal:6380',
      REDIS_USERNAME: 'gateway',
      REDIS_PASSWORD: 'pass',
      REDIS_DB: '2',
      REDIS_TLS: 'true',
    });
    expect(redisConnection(config)).toEqual({
      kind: 'url',
      url: 'rediss://cache.internal:6380',
      username: 'gateway',
      password: 'pass',
      db: 2,
    });
    expect(redisConnection(loadConfig({ REDIS_URL: 'redis://:pass@cache:6379/1' }))).toEqual({
      kind: 'url',
      url: 'redis://:pass@cache:6379/1',
    });
  });

  it('with REDIS_URL, refuses a setting the URL carries already, rather than choosing one of the two', () => {
    expect(named({ REDIS_URL: 'redis://:pass@cache:6379', REDIS_PASSWORD: 'other' })).toEqual(['REDIS_PASSWORD']);
    expect(named({ REDIS_URL: 'redis://app:pass@cache:6379', REDIS_USERNAME: 'gateway', REDIS_PASSWORD: 'p' })).toEqual(
      ['REDIS_USERNAME', 'REDIS_PASSWORD'],
    );
    expect(named({ REDIS_URL: 'redis://cache:6379?password=pass', REDIS_PASSWORD: 'other' })).toEqual([
      'REDIS_PASSWORD',
    ]);
    expect(named({ REDIS_URL: 'redis://cache:6379/2', REDIS_DB: '3' })).toEqual(['REDIS_DB']);
    expect(named({ REDIS_URL: 'redis://cache:6379', REDIS_TLS: 'true' })).toEqual(['REDIS_TLS']);
    expect(named({ REDIS_URL: 'rediss://cache:6379', REDIS_TLS: 'false' })).toEqual(['REDIS_TLS']);
  });

  it('never logs a Redis password', () => {
    const sentinel = redactConfig(
      loadConfig({ ...SENTINELS, REDIS_PASSWORD: 'data-s3cret', REDIS_SENTINEL_PASSWORD: 'sentinel-s3cret' }),
    );
    expect(sentinel).toMatchObject({
      redis: { connection: { password: '[redacted]', sentinelPassword: '[redacted]', masterName: 'mp-master' } },
    });
    const url = redactConfig(loadConfig({ REDIS_URL: 'redis://cache:6379?password=query-s3cret' }));
    expect(JSON.stringify([sentinel, url])).not.toMatch(/s3cret/);
  });
});
