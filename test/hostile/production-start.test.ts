import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { warnAboutDefaultSecrets } from '../../src/auth/exposure-warning.js';
import { loadConfig } from '../../src/config/config.js';
import { compiledEntry } from '../support/built.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

// The gateway as operators run it (`node dist/main.js`, NODE_ENV=production) against clients that
// send their requests a byte at a time, read their answers slowly, or keep a WebSocket open, and with the
// built-in secrets left in place.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const READ_TIMEOUT_MS = 1_000;

interface Started {
  child: ChildProcess;
  host: string;
  port: number;
  logs: { level: number; msg: string }[];
}

/** Starts the gateway from its entry point, in a process group of its own, and waits until it listens. */
async function startGateway(env: Record<string, string>): Promise<Started> {
  // No CURSOR_SECRET: the gateway runs with its built-in one.
  const { CURSOR_SECRET: _unset, ...inherited } = process.env;
  const child = spawn(process.execPath, compiledEntry('src/main.ts'), {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...inherited, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', REDIS_URL: '', ...env },
  });
  let errors = '';
  child.stderr.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
  });
  const logs: Started['logs'] = [];
  let buffered = '';
  const address = await new Promise<URL>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the gateway did not start: ${JSON.stringify(logs)}`)), 90_000);
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        try {
          const entry = JSON.parse(line) as Started['logs'][number];
          logs.push(entry);
          const serving = /^MarketPulse is serving (http:\/\/\S+)\/graphql$/.exec(entry.msg);
          if (serving) {
            clearTimeout(timer);
            resolve(new URL(serving[1]!));
          }
        } catch {
          // not a log line
        }
      }
    });
    child.once('exit', (code) =>
      reject(new Error(`the gateway exited with ${code}: ${JSON.stringify(logs)} ${errors}`)),
    );
  });
  return { child, host: address.hostname, port: Number(address.port), logs };
}

function stopGroup(child: ChildProcess | undefined) {
  if (child?.pid && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Everything the server sends until it closes the connection, and when it closed it. */
function collect(socket: Socket): Promise<{ text: string; closedAt: number }> {
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    text += chunk;
  });
  return new Promise((resolve) => socket.once('close', () => resolve({ text, closedAt: Date.now() })));
}

describe('a production gateway started from its entry point', () => {
  let database: TestDatabase | undefined;
  let dataDir: string | undefined;
  let gateway: Started;

  beforeAll(async () => {
    const env: Record<string, string> = {
      NODE_ENV: 'production',
      REQUEST_READ_TIMEOUT_MS: String(READ_TIMEOUT_MS),
      // The cost model is not what this file is about: the large answer below must be allowed.
      QUERY_MAX_COST: '100000000',
      // Nor are rate budgets: the answer's price is far past a minute's budget.
      RATE_LIMIT_POINTS: '0',
      CACHE_TTL_SECONDS: '0',
    };
    if (inject('databaseUrl')) {
      database = await createTestDatabase();
      env.DATABASE_URL = database.url!;
    } else {
      // The embedded database cannot be shared with this process: the gateway gets one of its own.
      dataDir = await mkdtemp(path.join(tmpdir(), 'mp-production-start-'));
      Object.assign(env, { DATABASE_URL: '', DATA_DIR: dataDir, EMBEDDED_SEED_TRANSACTIONS: '100' });
    }
    gateway = await startGateway(env);
  }, 120_000);

  afterAll(async () => {
    stopGroup(gateway?.child);
    await database?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('warns about the built-in CURSOR_SECRET it runs with', () => {
    const warnings = gateway.logs.filter((entry) => entry.level === 40).map((entry) => entry.msg);
    expect(warnings.some((message) => /^CURSOR_SECRET is the built-in default/.test(message))).toBe(true);
  });

  it('cuts a request whose body arrives a byte at a time', async () => {
    const socket = connect(gateway.port, gateway.host);
    const closed = collect(socket);
    const body = JSON.stringify({ query: '{ dashboard { totalTransactions } }' });
    socket.write(
      `POST /graphql HTTP/1.1\r\nHost: ${gateway.host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    const started = Date.now();
    let sent = 0;
    let open = true;
    void closed.then(() => {
      open = false;
    });
    while (open && sent < body.length && Date.now() - started < 15_000) {
      socket.write(body[sent++]!);
      await sleep(100);
    }
    const { text, closedAt } = await closed;
    // Cut after the read timeout plus Node's checking interval, long before the body (4.5 s at this pace) was sent.
    expect(sent).toBeLessThan(body.length);
    expect(closedAt - started).toBeLessThan(READ_TIMEOUT_MS + 2_500);
    expect(text).toMatch(/^HTTP\/1\.1 408/);
  });

  it('cuts a request whose headers arrive a byte at a time', async () => {
    const socket = connect(gateway.port, gateway.host);
    const closed = collect(socket);
    const head = `GET /healthz HTTP/1.1\r\nHost: ${gateway.host}\r\n${'X-Padding: slow\r\n'.repeat(10)}\r\n`;
    const started = Date.now();
    let open = true;
    void closed.then(() => {
      open = false;
    });
    for (let sent = 0; open && sent < head.length && Date.now() - started < 15_000; sent++) {
      socket.write(head[sent]!);
      await sleep(50);
    }
    const { closedAt } = await closed;
    expect(closedAt - started).toBeLessThan(READ_TIMEOUT_MS + 2_500);
  });

  it('does not cut an answer that the client downloads slowly', async () => {
    // About 7 MB: far more than the socket buffers hold while the client does not read.
    const aliases = Array.from(
      { length: 15 },
      (_, i) =>
        `s${i}: revenue(from: "2000-01-01", to: "2009-12-31") { points { date totalRevenue transactionCount avgTransactionValue uniqueCustomers } }`,
    );
    const body = JSON.stringify({ query: `{ ${aliases.join(' ')} }` });
    const socket = connect(gateway.port, gateway.host);
    socket.write(
      `POST /graphql HTTP/1.1\r\nHost: ${gateway.host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    // Read the first bytes, then nothing for three read timeouts, then the rest.
    const first = await new Promise<Buffer>((resolve) => socket.once('data', resolve));
    socket.pause();
    await sleep(3 * READ_TIMEOUT_MS + 1_000);
    const rest: Buffer[] = [first];
    socket.on('data', (chunk: Buffer) => rest.push(chunk));
    socket.resume();
    await new Promise((resolve) => socket.once('close', resolve));
    const text = Buffer.concat(rest).toString('utf8');
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    const answer = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as {
      data: Record<string, { points: unknown[] }>;
    };
    expect(Buffer.byteLength(text)).toBeGreaterThan(5_000_000);
    expect(answer.data.s14!.points).toHaveLength(3_653);
  }, 60_000);

  it('keeps an open WebSocket open past the read timeout', async () => {
    const socket = new WebSocket(`ws://${gateway.host}:${gateway.port}/graphql`, 'graphql-transport-ws');
    const messages: { type: string }[] = [];
    socket.on('message', (data: Buffer) => messages.push(JSON.parse(data.toString()) as { type: string }));
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    socket.send(JSON.stringify({ type: 'connection_init' }));
    await sleep(300);
    expect(messages.map((message) => message.type)).toEqual(['connection_ack']);
    await sleep(3 * READ_TIMEOUT_MS + 1_000);
    expect(socket.readyState).toBe(WebSocket.OPEN);
    socket.send(JSON.stringify({ type: 'ping' }));
    await sleep(300);
    expect(messages.map((message) => message.type)).toEqual(['connection_ack', 'pong']);
    socket.close();
  });
});

describe('warnings about built-in secrets', () => {
  it('name every secret still at a value published in this repository, in production only', () => {
    const warnings: string[] = [];
    const logger = { warn: (message: string) => void warnings.push(message) };
    const compose = loadConfig({
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://marketpulse:marketpulse@postgres:5432/marketpulse',
    });
    expect(warnAboutDefaultSecrets(compose, logger)).toEqual(['CURSOR_SECRET', 'DATABASE_URL']);
    expect(warnings.join('\n')).not.toContain('marketpulse:marketpulse');
    const own = loadConfig({
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://marketpulse:s3cret-of-our-own@db/marketpulse',
      CURSOR_SECRET: 'a-cursor-secret-of-our-own',
    });
    expect(warnAboutDefaultSecrets(own, logger)).toEqual([]);
    expect(
      warnAboutDefaultSecrets(
        loadConfig({ DATABASE_URL: 'postgres://marketpulse:marketpulse@postgres/marketpulse' }),
        logger,
      ),
    ).toEqual([]);
    expect(warnings).toHaveLength(2);
  });
});
