import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

// Every process the benchmark starts goes through here, so that all of them are stopped at the end: on
// success, on a thrown error, on Ctrl-C and on SIGTERM. Children run in process groups of their own
// (detached), because `npm run ...` starts grandchildren that a signal to npm alone would orphan.

export interface Supervised {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  /** Resolves with the exit code (or signal name) when the process has ended. */
  readonly exited: Promise<number | string>;
  stop(): Promise<void>;
}

const running = new Set<Supervised>();

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

export interface StartOptions {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  logDir: string;
}

/** Starts a long-running child; its stdout and stderr go to `<logDir>/<name>.log`. */
export function startProcess(name: string, options: StartOptions): Supervised {
  mkdirSync(options.logDir, { recursive: true });
  const logFile = path.join(options.logDir, `${name.replace(/[^\w.-]+/g, '_')}.log`);
  // Appended to: a server restarted within a run keeps the story of its first life in the same file.
  const log = createWriteStream(logFile, { flags: 'a' });
  log.write(`[bench] ${new Date().toISOString()} starting ${name}: ${options.command} ${options.args.join(' ')}\n`);
  // Output may still arrive after stop() closed the file; it is dropped rather than crashing the run.
  log.on('error', () => {});
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const exited = new Promise<number | string>((resolve) => {
    child.once('error', (error) => {
      log.write(`\n[bench] could not start ${options.command}: ${error.message}\n`);
      resolve('spawn-error');
    });
    // 'close' rather than 'exit': by then its output has been read, so the log is complete.
    child.once('close', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  let stopping = false;
  const entry: Supervised = {
    name,
    child,
    logFile,
    exited,
    async stop() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) {
        signalGroup(child, 'SIGTERM');
        const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      // A server that exited still may have left grandchildren in its group.
      signalGroup(child, 'SIGKILL');
      running.delete(entry);
      if (!log.writableEnded) await new Promise<void>((resolve) => log.end(resolve));
    },
  };
  running.add(entry);
  void exited.then((status) => {
    if (stopping || !running.has(entry)) return;
    // Ended on its own (crashed, killed, or a one-shot command finished): the rest of its group goes with it.
    log.write(`\n[bench] ${name} exited on its own: ${typeof status === 'number' ? `code ${status}` : status}\n`);
    signalGroup(child, 'SIGKILL');
    running.delete(entry);
  });
  return entry;
}

/** The last lines of a child's log, for error messages. */
export function tailOf(logFile: string, lines = 30): string {
  try {
    return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Runs a one-shot command to completion; rejects with the tail of its output when it fails. */
export async function runCommand(name: string, options: StartOptions): Promise<void> {
  const proc = startProcess(name, options);
  const status = await proc.exited;
  await proc.stop();
  if (status !== 0) {
    throw new Error(`${name} failed (${status}); the end of ${proc.logFile}:\n${tailOf(proc.logFile)}`);
  }
}

/** Stops every process still running, in parallel. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((proc) => proc.stop()));
}

/** Last resort on a synchronous exit path: no waiting is possible there, so SIGKILL. */
function killAllNow(): void {
  for (const proc of running) signalGroup(proc.child, 'SIGKILL');
  running.clear();
}

/** Installs the handlers that stop everything on Ctrl-C, SIGTERM, and any exit. */
export function stopEverythingOnExit(onInterrupt: () => void = () => {}): void {
  let interrupted = false;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (interrupted) {
        killAllNow();
        process.exit(130);
      }
      interrupted = true;
      console.error(`\n[bench] ${signal}: stopping everything it started…`);
      onInterrupt();
      void stopAll().finally(() => process.exit(130));
    });
  }
  process.on('exit', killAllNow);
}
