import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CONFIG_VARIABLES } from '../../src/config/config.js';
import { compiledEntry } from './built.js';
import { disownProcess, OutputLog, ownProcess } from './child-processes.js';

// The gateway as a process of its own, started the way production starts it: for what only the real start-up
// path shows (signals, configuration from the environment, connections made at start).

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** How the gateway is started: the one place the tests spell out its command line. */
export function gatewayCommand(): { command: string; args: string[]; cwd: string } {
  // The compiled entry point, as the image runs it: signals go to the gateway itself, with no npm in between.
  return { command: process.execPath, args: compiledEntry('src/main.ts'), cwd: ROOT };
}

/**
 * The test process's environment without any variable the gateway reads, so that a developer's shell (a
 * REDIS_URL, say) cannot change what a test starts.
 */
export function environmentWithoutConfig(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of CONFIG_VARIABLES) delete env[name];
  return env;
}

/** One line of the gateway's JSON log. */
export interface LogEntry {
  msg: string;
  level: number;
  [field: string]: unknown;
}

export interface GatewayProcess {
  readonly child: ChildProcess;
  /** `http://127.0.0.1:<port>`. */
  readonly base: string;
  /** The log lines so far. */
  readonly logs: LogEntry[];
  /** Everything it wrote to stdout and stderr (the last 64 KiB). */
  readonly output: OutputLog;
  /** Settles with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  /** SIGKILLs its process group (a no-op once it has exited) and waits for the exit. */
  kill(): Promise<void>;
}

/**
 * Starts the gateway in a process group of its own with the given variables (and no others the gateway
 * reads), listening on a free port of 127.0.0.1, and resolves once it serves. Killed should the test process
 * end first.
 */
export async function startGatewayProcess(
  env: Record<string, string>,
  options: { startTimeoutMs?: number } = {},
): Promise<GatewayProcess> {
  const { command, args, cwd } = gatewayCommand();
  const child = spawn(command, args, {
    cwd,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...environmentWithoutConfig(), HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
  });
  if (child.pid) ownProcess(child.pid);
  const logs: LogEntry[] = [];
  const output = new OutputLog();
  let buffered = '';
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      if (child.pid) disownProcess(child.pid);
      resolve(code);
    }),
  );
  child.stderr.on('data', (chunk: Buffer) => output.append(chunk));
  const base = await new Promise<string>((resolve, reject) => {
    const timeoutMs = options.startTimeoutMs ?? 60_000;
    const timer = setTimeout(
      () => reject(new Error(`the gateway did not start within ${timeoutMs} ms:\n${output.tail()}`)),
      timeoutMs,
    );
    child.stdout.on('data', (chunk: Buffer) => {
      output.append(chunk);
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        let entry: LogEntry;
        try {
          entry = JSON.parse(line) as LogEntry;
        } catch {
          continue;
        }
        logs.push(entry);
        const serving = /^MarketPulse is serving (http:\/\/\S+)\/graphql$/.exec(entry.msg);
        if (serving) {
          clearTimeout(timer);
          resolve(serving[1]!);
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the gateway exited with ${code}:\n${output.tail()}`));
    });
  });
  return {
    child,
    base,
    logs,
    output,
    exited,
    async kill() {
      if (child.pid && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await exited;
    },
  };
}
