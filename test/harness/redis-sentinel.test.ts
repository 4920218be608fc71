import { once } from 'node:events';
import { existsSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWhereAvailable } from '../support/availability.js';
import {
  redisSentinelUnavailable,
  startRedisSentinel,
  type RedisAddress,
  type RedisSentinel,
} from '../support/redis-sentinel.js';

const unavailable = redisSentinelUnavailable();

/** The port of the Redis node a client is talking to, as that node sees the connection (CLIENT INFO laddr). */
async function serverPortOf(client: Redis): Promise<number> {
  const info = String(await client.call('CLIENT', 'INFO'));
  return Number(/laddr=[^ ]*:(\d+)/.exec(info)![1]);
}

/**
 * A client through the Sentinel that, like the gateway's, never queues or retries a command while disconnected;
 * returned once it is ready.
 */
async function sentinelClient(harness: RedisSentinel, extra: RedisOptions = {}): Promise<Redis> {
  const client = new Redis({
    sentinels: harness.sentinels,
    name: harness.masterName,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 1_000,
    commandTimeout: 1_000,
    retryStrategy: (attempt) => Math.min(attempt * 50, 500),
    ...extra,
  });
  client.on('error', () => undefined);
  await once(client, 'ready');
  return client;
}

/** Retries SET until it succeeds; returns how long that took. */
async function setUntilAccepted(client: Redis, key: string, value: string, timeoutMs: number): Promise<number> {
  const began = performance.now();
  let lastError: unknown;
  while (performance.now() - began < timeoutMs) {
    try {
      await client.set(key, value);
      return performance.now() - began;
    } catch (error) {
      lastError = error;
      await sleep(50);
    }
  }
  throw new Error(`SET not accepted within ${timeoutMs} ms (last error: ${String(lastError)})`);
}

async function failOver(harness: RedisSentinel, client: Redis, key: string) {
  const before = await harness.currentMaster();
  expect(await serverPortOf(client)).toBe(before.port);
  await client.set(key, 'written before the failover');
  // The write must have reached the replica before the master dies, or the new master would not have it.
  expect(await client.call('WAIT', 1, 2_000)).toBe(1);

  const killed = await harness.killMaster();
  // Writes fail while there is no master (the Sentinel names the dead one); the first that succeeds went to the new one.
  const writableAfterKillMs = await setUntilAccepted(client, `${key}:after`, 'written after the failover', 15_000);
  const failover = await harness.waitForFailover();
  return { before, killed, failover, writableAfterKillMs };
}

describeWhereAvailable(unavailable)('Redis with a replica and a Sentinel', () => {
  let harness: RedisSentinel;
  const clients: Redis[] = [];

  beforeAll(async () => {
    harness = await startRedisSentinel();
  });

  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await harness?.stop();
  });

  it('fails over when the master is killed, and ioredis through the Sentinel writes to the new master within 15 s', async () => {
    const client = await sentinelClient(harness);
    clients.push(client);
    await client.set('mp:harness:probe', 'first');

    const { before, killed, failover, writableAfterKillMs } = await failOver(harness, client, 'mp:harness:kept');

    expect(killed).toEqual(before);
    expect(failover.master.port).not.toBe(before.port);
    expect(writableAfterKillMs).toBeLessThan(15_000);
    expect(await serverPortOf(client)).toBe(failover.master.port);
    expect(await client.get('mp:harness:kept')).toBe('written before the failover');
    expect(await client.get('mp:harness:kept:after')).toBe('written after the failover');
    expect(await harness.currentMaster()).toEqual(failover.master);
  });

  it('stops every process and removes its directory', async () => {
    const another = await startRedisSentinel();
    const master = await another.currentMaster();
    expect(await another.command(master, 'PING')).toBe('PONG');
    await another.stop();
    await expect(another.command(master, 'PING')).rejects.toThrow(/ECONNREFUSED|Connection is closed/);
    await expect(another.command(another.sentinels[0]!, 'PING')).rejects.toThrow(/ECONNREFUSED|Connection is closed/);
    expect(existsSync(another.directory)).toBe(false);
  });
});

describeWhereAvailable(unavailable)('Redis with a replica and a Sentinel, behind passwords', () => {
  const password = 'data-secret';
  const sentinelPassword = 'sentinel-secret';
  let harness: RedisSentinel;
  let master: RedisAddress;
  const clients: Redis[] = [];

  beforeAll(async () => {
    harness = await startRedisSentinel({ password, sentinelPassword });
    master = await harness.currentMaster();
  });

  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await harness?.stop();
  });

  /** What a node answers to PING, after AUTH with `auth` if given: its reply lines, on a plain socket. */
  async function pingReplies(address: RedisAddress, auth?: string): Promise<string[]> {
    const commands = [...(auth ? [`AUTH ${auth}`] : []), 'PING'];
    const socket = net.connect(address);
    socket.write(commands.map((command) => `${command}\r\n`).join(''));
    let received = '';
    for await (const chunk of socket) {
      received += String(chunk);
      if (received.split('\r\n').length > commands.length) break;
    }
    socket.destroy();
    return received.split('\r\n').slice(0, commands.length);
  }

  it('wants the data password at the nodes and its own password at the Sentinel', async () => {
    const sentinel = harness.sentinels[0]!;
    expect(await pingReplies(master)).toEqual([expect.stringMatching(/^-NOAUTH/)]);
    expect(await pingReplies(master, sentinelPassword)).toEqual([
      expect.stringMatching(/^-WRONGPASS/),
      expect.stringMatching(/^-NOAUTH/),
    ]);
    expect(await pingReplies(master, password)).toEqual(['+OK', '+PONG']);
    expect(await pingReplies(sentinel)).toEqual([expect.stringMatching(/^-NOAUTH/)]);
    expect(await pingReplies(sentinel, password)).toEqual([
      expect.stringMatching(/^-WRONGPASS/),
      expect.stringMatching(/^-NOAUTH/),
    ]);
    expect(await pingReplies(sentinel, sentinelPassword)).toEqual(['+OK', '+PONG']);
  });

  it('fails over with the passwords, and ioredis given both follows to the new master', async () => {
    const client = await sentinelClient(harness, { password, sentinelPassword });
    clients.push(client);
    await client.set('mp:harness:probe', 'first');

    const { before, failover, writableAfterKillMs } = await failOver(harness, client, 'mp:harness:kept');

    expect(failover.master.port).not.toBe(before.port);
    expect(writableAfterKillMs).toBeLessThan(15_000);
    expect(await serverPortOf(client)).toBe(failover.master.port);
    expect(await client.get('mp:harness:kept')).toBe('written before the failover');
  });
});

describeWhereAvailable(redisSentinelUnavailable({ tls: true }))(
  'Redis with a replica and a Sentinel, over TLS only',
  () => {
    let harness: RedisSentinel;

    beforeAll(async () => {
      harness = await startRedisSentinel({ tls: true });
    });

    afterAll(async () => {
      await harness?.stop();
    });

    /** What a node answers to PING on a connection of `kind`: its first reply line, or how the connection ended. */
    async function ping(address: RedisAddress, kind: 'plain' | 'tls'): Promise<string> {
      const socket = kind === 'tls' ? tls.connect({ ...address, ca: harness.tls!.ca }) : net.connect(address);
      socket.on('error', () => undefined);
      socket.write('PING\r\n');
      let received = '';
      try {
        for await (const chunk of socket) {
          received += String(chunk);
          if (received.includes('\r\n')) break;
        }
      } catch {
        // reset by the server: what it does with a plain-text command on a TLS port
      }
      socket.destroy();
      return received.includes('\r\n') ? received.split('\r\n')[0]! : 'closed';
    }

    it('answers only TLS, with a certificate for 127.0.0.1, at the nodes and at the Sentinel', async () => {
      const master = await harness.currentMaster();
      for (const address of [master, harness.sentinels[0]!]) {
        expect(await ping(address, 'plain')).toBe('closed');
        expect(await ping(address, 'tls')).toBe('+PONG');
      }
      // Replication runs over TLS too: the Sentinel saw the replica in sync before the start returned.
      const replicas = (await harness.command(
        harness.sentinels[0]!,
        'SENTINEL',
        'REPLICAS',
        harness.masterName,
      )) as unknown[];
      expect(replicas).toHaveLength(1);
    });
  },
);
