import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// The plumbing the process harnesses (PgBouncer, a PostgreSQL primary/replica pair, Redis with Sentinel) share:
// free ports, captured output, servers run under another OS user, and leftovers that are cleaned up however the
// test process ends.

/**
 * The reason to skip tests of a harness that cannot run here, or undefined to run them. Under CI=true there is
 * never a reason: the tests run, and the harness's start fails with "unavailable: <reason>".
 */
export function skipReason(unavailable: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.CI === 'true' ? undefined : unavailable;
}

/** Thrown by a harness's start when the machine lacks what it needs (a binary, a user to run as). */
export class HarnessUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(`unavailable: ${reason}`);
    this.name = 'HarnessUnavailableError';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Ports

const handedOut = new Set<number>();

/**
 * A port of 127.0.0.1 that was free a moment ago: the kernel picks it for a listener on port 0, which is closed
 * again. Another process can still take it before the server binds, so starts retry on EADDRINUSE
 * (onAFreePort). Ports already handed out in this process are not handed out again.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.unref();
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port of 127.0.0.1 found in 50 attempts');
}

const ADDRESS_IN_USE = /address already in use|EADDRINUSE/i;

/** Runs `start` on a free port, and again on another one while it fails because the port was taken meanwhile. */
export async function onAFreePort<T>(start: (port: number) => Promise<T>, attempts = 5): Promise<T> {
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = await freePort();
    try {
      return await start(port);
    } catch (error) {
      if (!ADDRESS_IN_USE.test(String(error instanceof Error ? error.message : error))) throw error;
      lastError = error;
    }
  }
  throw lastError;
}

// ---------------------------------------------------------------------------------------------------------------
// Output

/** The most recent output of a process (bounded), for error messages. */
export class OutputLog {
  private text = '';

  constructor(private readonly limit = 64 * 1024) {}

  append(chunk: Buffer | string): void {
    this.text += chunk.toString();
    if (this.text.length > this.limit) this.text = this.text.slice(-this.limit);
  }

  /** The last `chars` characters, whole lines. */
  tail(chars = 6_000): string {
    if (this.text.length <= chars) return this.text;
    const cut = this.text.slice(-chars);
    return cut.slice(cut.indexOf('\n') + 1);
  }

  includes(text: string): boolean {
    return this.text.includes(text);
  }
}

/** An error whose message ends with the output that explains it. */
export function failure(message: string, output: string): Error {
  const trimmed = output.trim();
  return new Error(trimmed ? `${message}\n--- output ---\n${trimmed}\n--- end of output ---` : message);
}

// ---------------------------------------------------------------------------------------------------------------
// Users

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

export const runningAsRoot = process.getuid?.() === 0;

/** The uid and gid of an OS user, or undefined when there is no such user. */
export function findOsUser(name: string): OsUser | undefined {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { name, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Where `command` is: an absolute path that exists, or the first match on PATH (and /usr/sbin, /sbin). */
export function findExecutable(command: string): string | undefined {
  if (path.isAbsolute(command)) return existsSync(command) ? command : undefined;
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    const candidate = path.join(dir, command);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Leftovers: every server process and temporary directory a harness makes, until it is stopped

interface Leftovers {
  /** pid -> the signal that ends it (SIGQUIT for a postmaster: immediate shutdown, children included). */
  pids: Map<number, NodeJS.Signals>;
  dirs: Set<string>;
  reaper: ChildProcess | undefined;
}

// One registry per process, even when a test runner evaluates this module more than once.
const REGISTRY = Symbol.for('marketpulse.test.leftovers');
const globals = globalThis as typeof globalThis & { [REGISTRY]?: Leftovers };

function leftovers(): Leftovers {
  let registry = globals[REGISTRY];
  if (!registry) {
    const created: Leftovers = { pids: new Map(), dirs: new Set(), reaper: undefined };
    registry = created;
    globals[REGISTRY] = created;
    // On a normal exit, and after an uncaught error (Node emits 'exit' then too): signal what is left at once.
    // The reaper below finishes the job (waits for the processes, then removes the directories), and is what
    // covers a test process that is killed outright.
    process.on('exit', () => {
      for (const [pid, signal] of created.pids) signalQuietly(pid, signal);
      for (const dir of created.dirs) {
        try {
          rmSync(dir, { recursive: true, force: true });
        } catch {
          // A server still shutting down may write into it; the reaper removes it once the server is gone.
        }
      }
    });
  }
  return registry;
}

/**
 * Whether a process is still running. A process that exited but was not yet reaped (a zombie, which is what a
 * daemonised postmaster is until PID 1 collects it) counts as ended.
 */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // The state is the field after the parenthesised command name: /proc/<pid>/stat is "pid (comm) S ...".
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

// The reaper is a small detached Node process that reads our instructions on its stdin. A test process that is
// killed with SIGKILL runs no handler, but the kernel closes its end of the pipe; at end of input the reaper
// signals every process still registered, waits for them (SIGKILL after 5 s) and removes the directories.
// Detached, it is in a session of its own, so a Ctrl-C to the test run does not end it before it has cleaned up.
const REAPER_SCRIPT = `
const { readFileSync, rmSync } = require('node:fs');
const pids = new Map();
const dirs = new Set();
let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  pending += chunk;
  let end;
  while ((end = pending.indexOf('\\n')) >= 0) {
    const message = JSON.parse(pending.slice(0, end));
    pending = pending.slice(end + 1);
    if (message.pid !== undefined) message.add ? pids.set(message.pid, message.signal) : pids.delete(message.pid);
    if (message.dir !== undefined) message.add ? dirs.add(message.dir) : dirs.delete(message.dir);
  }
});
const alive = (pid) => {
  try { process.kill(pid, 0); } catch { return false; }
  try { const stat = readFileSync('/proc/' + pid + '/stat', 'utf8'); return stat[stat.lastIndexOf(')') + 2] !== 'Z'; } catch { return true; }
};
process.stdin.on('end', async () => {
  for (const [pid, signal] of pids) { try { process.kill(pid, signal); } catch {} }
  const deadline = Date.now() + 5000;
  while ([...pids.keys()].some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const pid of pids.keys()) { try { process.kill(pid, 'SIGKILL'); } catch {} }
  for (const dir of dirs) { try { rmSync(dir, { recursive: true, force: true, maxRetries: 5 }); } catch {} }
  process.exit(0);
});
`;

function tellReaper(message: object): void {
  const registry = leftovers();
  if (!registry.reaper) {
    const reaper = spawn(process.execPath, ['-e', REAPER_SCRIPT], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    });
    reaper.unref();
    // Neither the pipe nor the reaper may keep the test process alive.
    (reaper.stdin as unknown as net.Socket).unref();
    reaper.stdin?.on('error', () => undefined);
    registry.reaper = reaper;
  }
  registry.reaper.stdin?.write(`${JSON.stringify(message)}\n`);
}

/** Registers a process to be ended with `signal` should the test process end before the harness stops it. */
export function ownProcess(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  leftovers().pids.set(pid, signal);
  tellReaper({ add: true, pid, signal });
}

export function disownProcess(pid: number): void {
  leftovers().pids.delete(pid);
  tellReaper({ add: false, pid });
}

/** A fresh directory under the system's temp dir, owned by `owner` when given, removed at exit unless removed before. */
export function makeTempDir(prefix: string, owner?: OsUser): { path: string; remove(): Promise<void> } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  if (owner) chownSync(dir, owner.uid, owner.gid);
  leftovers().dirs.add(dir);
  tellReaper({ add: true, dir });
  return {
    path: dir,
    async remove() {
      await rm(dir, { recursive: true, force: true, maxRetries: 5 });
      leftovers().dirs.delete(dir);
      tellReaper({ add: false, dir });
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Running commands and servers

export interface RunOptions {
  /** Run as this OS user (through `runuser`) when the test process is root; as the test process's user otherwise. */
  user?: OsUser | undefined;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** The command line to run `command` as `user`: through runuser when root, as is otherwise. */
function asUser(command: string, args: string[], user: OsUser | undefined): [string, string[]] {
  if (user && runningAsRoot && user.uid !== 0) return ['runuser', ['-u', user.name, '--', command, ...args]];
  return [command, args];
}

/** Runs a command to its end; fails with its output when it exits non-zero or outlasts the timeout. */
export async function run(command: string, args: string[], options: RunOptions = {}): Promise<string> {
  const [file, argv] = asUser(command, args, options.user);
  const output = new OutputLog();
  const child = spawn(file, argv, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk: Buffer) => output.append(chunk));
  child.stderr.on('data', (chunk: Buffer) => output.append(chunk));
  const timeoutMs = options.timeoutMs ?? 60_000;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const describe = `${path.basename(command)} ${args.join(' ')}`;
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve([code, signal]));
    });
    if (code !== 0) {
      const how =
        signal === 'SIGKILL'
          ? `was killed after ${timeoutMs} ms`
          : signal
            ? `died of ${signal}`
            : `exited with ${code}`;
      throw failure(`${describe} ${how}`, output.tail());
    }
    return output.tail(64 * 1024);
  } finally {
    clearTimeout(timer);
  }
}

export interface ServerProcess {
  readonly pid: number;
  readonly output: OutputLog;
  /** Settles when the process has exited, with how it exited. */
  readonly exited: Promise<string>;
  readonly hasExited: () => boolean;
  /** Sends `signal`, waits for the exit, SIGKILL after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/**
 * Starts a long-running server as a child of the test process, its output captured. It is registered as a
 * leftover (SIGKILL) until stopped.
 */
export function startServer(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): ServerProcess {
  const output = new OutputLog();
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk: Buffer) => output.append(chunk));
  child.stderr.on('data', (chunk: Buffer) => output.append(chunk));
  let done = false;
  const exited = new Promise<string>((resolve) => {
    child.once('error', (error) => {
      done = true;
      resolve(`could not be started: ${error.message}`);
    });
    child.once('exit', (code, signal) => {
      done = true;
      resolve(signal ? `died of ${signal}` : `exited with ${code}`);
    });
  });
  const pid = child.pid ?? -1;
  if (pid > 0) ownProcess(pid);
  void exited.then(() => {
    if (pid > 0) disownProcess(pid);
  });
  return {
    pid,
    output,
    exited,
    hasExited: () => done,
    async stop(signal = 'SIGTERM', graceMs = 5_000) {
      if (done) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Thrown inside a waitFor check to end the wait at once with `error` (a server that exited will not come up). */
export class StopWaiting extends Error {
  constructor(readonly error: Error) {
    super(error.message);
  }
}

/**
 * Polls `check` until it returns something other than undefined or false, and returns that. An error thrown by
 * `check` counts as "not yet" (a server still starting refuses connections), except StopWaiting. On timeout,
 * fails with `what` and the output `explain` gives (the logs of the processes concerned).
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  options: { timeoutMs?: number; intervalMs?: number; explain?: () => string } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const result = await check();
      if (result !== undefined && result !== false) return result;
    } catch (error) {
      if (error instanceof StopWaiting) throw error.error;
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw failure(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`, options.explain?.() ?? '');
    }
    await sleep(options.intervalMs ?? 50);
  }
}
