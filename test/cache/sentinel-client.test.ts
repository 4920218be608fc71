import { setTimeout as sleep } from 'node:timers/promises';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { closeRedisClient, createRedisClient } from '../../src/cache/redis-cache.js';
import type { RedisConnection } from '../../src/config/config.js';
import { describeWhereAvailable } from '../support/availability.js';
import { redisSentinelUnavailable, startRedisSentinel, type RedisSentinel } from '../support/redis-sentinel.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { silentLogger } from '../support/gateway-with-cache.js';

// The gateway's Redis client through Sentinel, against real processes, where Sentinel mode has ways of its
// own to leave a client stuck: a Sentinel that never answers, a master that hangs instead of dying, a failover
// announced at the wrong moment, connections that outlive the client.

const opened: { stop(): Promise<void> }[] = [];
const clients: Redis[] = [];
// ioredis clients of the test itself (not the gateway's kind), disconnected after each test.
const plainClients: Redis[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => closeRedisClient(client)));
  for (const plain of plainClients.splice(0)) plain.disconnect();
  await Promise.all(opened.splice(0).map((thing) => thing.stop()));
});

async function harness(): Promise<RedisSentinel> {
  const started = await startRedisSentinel();
  opened.push(started);
  return started;
}

async function stalledSentinelProxy(
  target: { host: string; port: number },
  mode: 'forward' | 'stall',
): Promise<TcpProxy> {
  const proxy = new TcpProxy(target);
  await proxy.start(mode);
  opened.push(proxy);
  return proxy;
}

function client(sentinels: { host: string; port: number }[], masterName: string, commandTimeoutMs = 100): Redis {
  const connection: RedisConnection = { kind: 'sentinel', sentinels, masterName, db: 0, tls: false };
  const created = createRedisClient(connection, { commandTimeoutMs, logger: silentLogger });
  clients.push(created);
  return created;
}

/** Waits for the client's next 'ready' (connection errors on the way are expected). */
async function readyWithin(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready within ${ms} ms (status ${redis.status})`)), ms);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The port of the node a client is talking to, as that node sees the connection. */
async function serverPortOf(redis: Redis): Promise<number> {
  const info = String(await redis.call('CLIENT', 'INFO'));
  return Number(/laddr=[^ ]*:(\d+)/.exec(info)![1]);
}

/** Retries a SET until one succeeds; returns when (performance.now()). */
async function writableAt(redis: Redis, deadlineMs: number): Promise<number> {
  const deadline = performance.now() + deadlineMs;
  for (;;) {
    try {
      await redis.set('mp-test:sentinel-client:probe', String(Date.now()));
      return performance.now();
    } catch (error) {
      if (performance.now() > deadline)
        throw new Error(`no write accepted within ${deadlineMs} ms (last: ${String(error)})`);
      await sleep(50);
    }
  }
}

/** The Sentinel's client connections, other than the one asking. */
async function sentinelConnections(sentinels: RedisSentinel): Promise<string[]> {
  const list = String(await sentinels.command(sentinels.sentinels[0]!, 'CLIENT', 'LIST'));
  return list.split('\n').filter((line) => line.trim() !== '' && !/cmd=client\|list/.test(line));
}

describeWhereAvailable(redisSentinelUnavailable())('the Redis client through Sentinel', () => {
  it('finds the master past a listed Sentinel that accepts connections and never answers', async () => {
    const redis = await harness();
    const silent = await stalledSentinelProxy(redis.sentinels[0]!, 'stall');
    const started = performance.now();
    const viaSilentFirst = client([{ host: '127.0.0.1', port: silent.port }, ...redis.sentinels], redis.masterName);
    await readyWithin(viaSilentFirst, 10_000);
    expect(await serverPortOf(viaSilentFirst)).toBe((await redis.currentMaster()).port);
    // One lookup timeout (10 x the 100 ms command timeout, at least 1 s) on the silent Sentinel, then the next.
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('closes its connections to the Sentinels when closed, those of the failover detector included', async () => {
    const redis = await harness();
    const closing = client(redis.sentinels, redis.masterName);
    await readyWithin(closing, 5_000);
    await expect.poll(() => sentinelConnections(redis), { timeout: 2_000 }).toHaveLength(1);
    expect((await sentinelConnections(redis))[0]).toMatch(/cmd=subscribe/);
    await closeRedisClient(closing);
    await expect.poll(() => sentinelConnections(redis), { timeout: 2_000 }).toEqual([]);
  });

  it('moves to the new master within 15 s of the failover when the old one hangs instead of dying', async () => {
    const redis = await harness();
    const following = client(redis.sentinels, redis.masterName);
    await readyWithin(following, 5_000);
    // The failover detector subscribes once the connection is up.
    await expect.poll(() => sentinelConnections(redis), { timeout: 2_000 }).toHaveLength(1);
    const hung = await redis.hangMaster();
    // The connection to the hung master stays open: commands time out rather than fail at once.
    await expect(following.set('mp-test:sentinel-client:probe', 'x')).rejects.toThrow(/timed out/i);
    const { master, sinceKillMs } = await redis.waitForFailover();
    const failoverAt = performance.now();
    const writable = await writableAt(following, 15_000);
    expect(await serverPortOf(following)).toBe(master.port);
    expect(master.port).not.toBe(hung.port);
    console.info(
      `hung master: failover ${sinceKillMs} ms after the hang, writes accepted ${Math.round(writable - failoverAt)} ms after the failover`,
    );
    expect(writable - failoverAt).toBeLessThan(15_000);
  }, 60_000);

  it('connects again when the failover is announced while it is asking a Sentinel for the new master', async () => {
    const redis = await harness();
    // Every word between the client and the Sentinel goes through a relay the test can hold up.
    const relay = await stalledSentinelProxy(redis.sentinels[0]!, 'forward');
    // A long command timeout makes a long Sentinel lookup timeout (10 s): the lookup is still waiting when
    // the relay lets the held replies through.
    const racing = client([{ host: '127.0.0.1', port: relay.port }], redis.masterName, 1_000);
    await readyWithin(racing, 5_000);
    await expect.poll(() => sentinelConnections(redis), { timeout: 2_000 }).toHaveLength(1);
    let gaveUp = false;
    racing.once('end', () => (gaveUp = true));
    // The announcement, heard straight from the Sentinel.
    const listener = new Redis({ ...redis.sentinels[0]!, maxRetriesPerRequest: 0 });
    plainClients.push(listener);
    await listener.subscribe('+switch-master');
    const announced = once(listener, 'message');
    relay.setMode('stall');
    await redis.killMaster();
    // The client lost its master and asks the Sentinel for one; the question is held. The Sentinel fails
    // over and announces it to the failover detector of the lost connection; that is held too.
    const { master } = await redis.waitForFailover();
    await announced;
    // Released in the order they came: the announcement first, which aborts the lookup under way.
    relay.setMode('forward');
    await readyWithin(racing, 10_000);
    expect(await serverPortOf(racing)).toBe(master.port);
    // What this test sets up: ioredis gave the client up ('end') on the aborted lookup.
    expect(gaveUp).toBe(true);
  }, 60_000);
});

describeWhereAvailable(redisSentinelUnavailable())('the Redis client by URL', () => {
  it('authenticates with the password and selects the database given beside the URL', async () => {
    const redis = await startRedisSentinel({ password: 'beside-the-url' });
    opened.push(redis);
    const master = await redis.currentMaster();
    const byUrl = createRedisClient(
      { kind: 'url', url: `redis://${master.host}:${master.port}`, password: 'beside-the-url', db: 5 },
      { commandTimeoutMs: 1_000, logger: silentLogger },
    );
    clients.push(byUrl);
    await readyWithin(byUrl, 5_000);
    await byUrl.set('mp-test:by-url', 'in database 5');
    const direct = new Redis({ ...master, password: 'beside-the-url', db: 5, maxRetriesPerRequest: 0 });
    plainClients.push(direct);
    expect(await direct.get('mp-test:by-url')).toBe('in database 5');
    expect(String(await byUrl.call('CLIENT', 'INFO'))).toMatch(/ db=5 /);
  });
});
