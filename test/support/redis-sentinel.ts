import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import {
  failure,
  findExecutable,
  run,
  HarnessUnavailableError,
  makeTempDir,
  onAFreePort,
  startServer,
  StopWaiting,
  waitFor,
  type ServerProcess,
} from './child-processes.js';

// A Redis master, one replica and one Sentinel on free ports of 127.0.0.1, started for a test: enough for
// Sentinel to fail over (quorum 1) within a few seconds of the master's death. Nothing is persisted to disk.

export interface RedisAddress {
  host: string;
  port: number;
}

export interface RedisSentinelOptions {
  /** The data nodes' password: requirepass and masterauth on both, auth-pass in the Sentinel. */
  password?: string;
  /** The Sentinel's own password (its requirepass). */
  sentinelPassword?: string;
  /** The name the Sentinel monitors the master under. */
  masterName?: string;
  /** How long the master must be unreachable before it counts as down. */
  downAfterMs?: number;
  failoverTimeoutMs?: number;
  /**
   * TLS only, on every node and the Sentinel (no plain port), replication and the Sentinel's connections
   * included, with a self-signed certificate for 127.0.0.1 made for the run (needs openssl).
   */
  tls?: boolean;
  /** The binary; REDIS_SERVER or redis-server on PATH by default. */
  binary?: string;
}

/** The certificate of a TLS harness: what a client must trust. */
export interface RedisTlsCertificate {
  /** PEM text, for ioredis's `tls: { ca }`. */
  ca: string;
  /** The same in a file, for NODE_EXTRA_CA_CERTS. */
  caFile: string;
}

export interface RedisSentinel {
  readonly masterName: string;
  /** With `tls`, the certificate every node presents. */
  readonly tls: RedisTlsCertificate | undefined;
  /** The Sentinels' addresses, in ioredis's `sentinels` form. */
  readonly sentinels: RedisAddress[];
  /** Milliseconds from the call to start until the Sentinel knew the master and its replica. */
  readonly startupMs: number;
  /** The temp dir holding the nodes' working directories and the Sentinel's configuration. */
  readonly directory: string;
  /** The master's address as the Sentinel gives it (SENTINEL get-master-addr-by-name). */
  currentMaster(): Promise<RedisAddress>;
  /** SIGKILLs the current master's process and returns its address. */
  killMaster(): Promise<RedisAddress>;
  /**
   * SIGSTOPs the current master's process and returns its address: a hung master, whose connections stay open
   * and whose replies never come. For waitForFailover it counts as killed; stop() ends it.
   */
  hangMaster(): Promise<RedisAddress>;
  /**
   * Waits until the Sentinel names a master other than `previous` (the last killed one by default) and that node
   * answers as a master; returns it, with the time since the kill.
   */
  waitForFailover(previous?: RedisAddress, timeoutMs?: number): Promise<{ master: RedisAddress; sinceKillMs: number }>;
  /** Runs a command on one node (a data node with the data password, a Sentinel with its own). */
  command(address: RedisAddress, ...args: (string | number)[]): Promise<unknown>;
  /** The recent output of every process. */
  log(): string;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

function binaryOf(options: { binary?: string }): string {
  return options.binary ?? process.env.REDIS_SERVER ?? 'redis-server';
}

/** Why Redis with Sentinel cannot be started here, or undefined when it can. */
export function redisSentinelUnavailable(options: { binary?: string; tls?: boolean } = {}): string | undefined {
  const binary = binaryOf(options);
  if (!findExecutable(binary)) return `no ${binary} binary (Debian: apt-get install redis-server)`;
  if (options.tls && !findExecutable('openssl'))
    return 'no openssl binary to make a certificate (Debian: apt-get install openssl)';
  return undefined;
}

async function command(
  address: RedisAddress,
  password: string | undefined,
  args: (string | number)[],
  tls?: RedisTlsCertificate,
): Promise<unknown> {
  const client = new Redis({
    ...address,
    password,
    ...(tls ? { tls: { ca: tls.ca } } : {}),
    lazyConnect: true,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const [name, ...rest] = args;
    return await client.call(String(name), ...rest);
  } finally {
    client.disconnect();
  }
}

/** INFO's `key:value` lines as an object. */
function parseInfo(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split(/\r?\n/)
      .filter((line) => line.includes(':') && !line.startsWith('#'))
      .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)]),
  );
}

/** SENTINEL replicas' flat [key, value, key, value...] entries as objects. */
function pairs(entry: unknown): Record<string, string> {
  const list = entry as string[];
  const result: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) result[list[i]!] = list[i + 1]!;
  return result;
}

export async function startRedisSentinel(options: RedisSentinelOptions = {}): Promise<RedisSentinel> {
  const began = performance.now();
  const unavailable = redisSentinelUnavailable(options);
  if (unavailable) throw new HarnessUnavailableError(unavailable);
  const binary = binaryOf(options);
  const masterName = options.masterName ?? 'mp-master';
  const { password, sentinelPassword } = options;
  const dir = makeTempDir('mp-redis-sentinel-');
  /** Every process by port; the killed master stays listed (exited). */
  const nodes = new Map<number, { role: string; process: ServerProcess }>();
  const sentinelPorts: number[] = [];
  let lastKilled: { address: RedisAddress; at: number } | undefined;
  let tls: RedisTlsCertificate | undefined;
  const certFile = path.join(dir.path, 'cert.pem');
  const keyFile = path.join(dir.path, 'key.pem');
  /** A node's listening arguments: its port, or its TLS port and the certificate. */
  const listenOn = (port: number) =>
    tls
      ? [
          '--port',
          '0',
          '--tls-port',
          String(port),
          '--tls-cert-file',
          certFile,
          '--tls-key-file',
          keyFile,
          '--tls-ca-cert-file',
          certFile,
          '--tls-auth-clients',
          'no',
          '--tls-replication',
          'yes',
        ]
      : ['--port', String(port)];

  const log = () =>
    [...nodes]
      .map(
        ([port, node]) =>
          `--- ${node.role} on ${port}${node.process.hasExited() ? ' (exited)' : ''} ---\n${node.process.output.tail(3_000)}`,
      )
      .join('\n');

  /** Starts one redis-server on a free port; `args(port)` are its arguments. Waits until it answers PING. */
  async function startNode(
    role: string,
    args: (port: number) => Promise<string[]>,
    auth: string | undefined,
  ): Promise<number> {
    return onAFreePort(async (port) => {
      const started = startServer(binary, await args(port), { cwd: dir.path });
      try {
        await waitFor(
          `${role} redis-server to answer on ${HOST}:${port}`,
          async () => {
            if (started.hasExited())
              throw new StopWaiting(failure(`${role} redis-server ${await started.exited}`, started.output.tail()));
            return (await command({ host: HOST, port }, auth, ['PING'], tls)) === 'PONG';
          },
          { timeoutMs: 10_000, intervalMs: 20, explain: () => started.output.tail() },
        );
      } catch (error) {
        await started.stop('SIGKILL');
        throw error;
      }
      nodes.set(port, { role, process: started });
      return port;
    });
  }

  async function dataNodeArgs(port: number, replicaOf?: number): Promise<string[]> {
    const nodeDir = path.join(dir.path, `node-${port}`);
    await mkdir(nodeDir, { recursive: true });
    return [
      ...listenOn(port),
      '--bind',
      HOST,
      '--dir',
      nodeDir,
      // No disk persistence: no RDB snapshots, no append-only file, no RDB file for a full resync either.
      '--save',
      '',
      '--appendonly',
      'no',
      '--repl-diskless-sync',
      'yes',
      '--repl-diskless-sync-delay',
      '0',
      '--repl-diskless-load',
      'on-empty-db',
      ...(password ? ['--requirepass', password, '--masterauth', password] : []),
      ...(replicaOf ? ['--replicaof', HOST, String(replicaOf)] : []),
    ];
  }

  async function stopAll() {
    await Promise.all([...nodes.values()].map((node) => node.process.stop('SIGKILL')));
    await dir.remove();
  }

  const dataCommand = (address: RedisAddress, ...args: (string | number)[]) => command(address, password, args, tls);
  const sentinelCommand = (...args: (string | number)[]) =>
    command({ host: HOST, port: sentinelPorts[0]! }, sentinelPassword, args, tls);

  try {
    if (options.tls) {
      // Self-signed, so that it is its own CA: the nodes verify each other with it, and so do clients.
      await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-subj',
        `/CN=${HOST}`,
        '-addext',
        `subjectAltName=IP:${HOST}`,
      ]);
      tls = { ca: await readFile(certFile, 'utf8'), caFile: certFile };
    }
    const masterPort = await startNode('master', (port) => dataNodeArgs(port), password);
    const replicaPort = await startNode('replica', (port) => dataNodeArgs(port, masterPort), password);
    await waitFor(
      'the replica to sync with the master',
      async () =>
        parseInfo(String(await dataCommand({ host: HOST, port: replicaPort }, 'INFO', 'replication')))
          .master_link_status === 'up',
      { timeoutMs: 15_000, intervalMs: 20, explain: log },
    );
    const sentinelPort = await startNode(
      'sentinel',
      async (port) => {
        // The Sentinel rewrites its configuration file (known replicas, epochs), so it gets a copy of its own.
        const sentinelDir = path.join(dir.path, `sentinel-${port}`);
        await mkdir(sentinelDir, { recursive: true });
        const file = path.join(sentinelDir, 'sentinel.conf');
        const lines = [
          ...(tls
            ? [
                'port 0',
                `tls-port ${port}`,
                `tls-cert-file ${certFile}`,
                `tls-key-file ${keyFile}`,
                `tls-ca-cert-file ${certFile}`,
                'tls-auth-clients no',
                'tls-replication yes',
              ]
            : [`port ${port}`]),
          `bind ${HOST}`,
          `dir ${sentinelDir}`,
          ...(sentinelPassword ? [`requirepass ${sentinelPassword}`] : []),
          `sentinel monitor ${masterName} ${HOST} ${masterPort} 1`,
          `sentinel down-after-milliseconds ${masterName} ${options.downAfterMs ?? 1_000}`,
          `sentinel failover-timeout ${masterName} ${options.failoverTimeoutMs ?? 5_000}`,
          `sentinel parallel-syncs ${masterName} 1`,
          ...(password ? [`sentinel auth-pass ${masterName} ${password}`] : []),
        ];
        await writeFile(file, `${lines.join('\n')}\n`);
        return [file, '--sentinel'];
      },
      sentinelPassword,
    );
    sentinelPorts.push(sentinelPort);
    // Sentinel can fail over only to a replica it has discovered (from the master's INFO) and heard from.
    await waitFor(
      'the Sentinel to know the master and its replica',
      async () => {
        const master = pairs(await sentinelCommand('SENTINEL', 'MASTER', masterName));
        const replicas = ((await sentinelCommand('SENTINEL', 'REPLICAS', masterName)) as unknown[]).map(pairs);
        return (
          master.flags === 'master' &&
          replicas.some(
            (r) => r.port === String(replicaPort) && r.flags === 'slave' && r['master-link-status'] === 'ok',
          )
        );
      },
      { timeoutMs: 15_000, intervalMs: 20, explain: log },
    );
  } catch (error) {
    const output = log();
    await stopAll();
    if ((error as Error).message.includes('--- output ---')) throw error;
    throw failure(`Redis with Sentinel did not start: ${(error as Error).message}`, output);
  }

  async function currentMaster(): Promise<RedisAddress> {
    const reply = (await sentinelCommand('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName)) as [string, string] | null;
    if (!reply) throw new Error(`the Sentinel does not know a master named ${masterName}`);
    return { host: reply[0], port: Number(reply[1]) };
  }

  async function runningMaster() {
    const master = await currentMaster();
    const node = nodes.get(master.port);
    if (!node || node.process.hasExited())
      throw new Error(`the master ${master.host}:${master.port} is not a running node of this harness`);
    return { master, node };
  }

  return {
    masterName,
    tls,
    sentinels: sentinelPorts.map((port) => ({ host: HOST, port })),
    startupMs: Math.round(performance.now() - began),
    directory: dir.path,
    currentMaster,
    async killMaster() {
      const { master, node } = await runningMaster();
      await node.process.stop('SIGKILL');
      lastKilled = { address: master, at: performance.now() };
      return master;
    },
    async hangMaster() {
      const { master, node } = await runningMaster();
      process.kill(node.process.pid, 'SIGSTOP');
      lastKilled = { address: master, at: performance.now() };
      return master;
    },
    async waitForFailover(previous = lastKilled?.address, timeoutMs = 30_000) {
      if (!previous) throw new Error('waitForFailover needs the previous master (or a killMaster before it)');
      const master = await waitFor(
        `the Sentinel to promote a new master in place of ${previous.host}:${previous.port}`,
        async () => {
          const named = await currentMaster();
          if (named.port === previous.port) return undefined;
          // The Sentinel names the new master once it has sent it REPLICAOF NO ONE; check it took effect.
          const role = (await dataCommand(named, 'ROLE')) as [string, ...unknown[]];
          return role[0] === 'master' ? named : undefined;
        },
        { timeoutMs, intervalMs: 20, explain: log },
      );
      return { master, sinceKillMs: lastKilled ? Math.round(performance.now() - lastKilled.at) : 0 };
    },
    command: (address, ...args) =>
      sentinelPorts.includes(address.port)
        ? command(address, sentinelPassword, args, tls)
        : dataCommand(address, ...args),
    log,
    stop: stopAll,
  };
}
