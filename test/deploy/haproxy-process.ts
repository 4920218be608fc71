import { spawn, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  disownProcess,
  failure,
  findExecutable,
  HarnessUnavailableError,
  makeTempDir,
  onAFreePort,
  OutputLog,
  ownProcess,
  StopWaiting,
  waitFor,
} from '../support/child-processes.js';
import { relocate } from './haproxy-config.js';

// A real HAProxy (Debian's package) on a free port of 127.0.0.1, running a given configuration with its frontend
// and servers moved there, and the server state changes its health checks log, as they happen.

const BINARY = process.env.HAPROXY ?? 'haproxy';

/** Why HAProxy cannot be started here, or undefined when it can. */
export function haproxyUnavailable(): string | undefined {
  return findExecutable(BINARY) ? undefined : `no HAProxy binary (${BINARY}) on PATH (Debian: apt-get install haproxy)`;
}

/** e.g. "2.6.12" */
export function haproxyVersion(): string {
  const result = spawnSync(findExecutable(BINARY)!, ['-v'], { encoding: 'utf8' });
  return /HAProxy version (\S+)/.exec(result.stdout)?.[1]?.replace(/-.*$/, '') ?? 'unknown';
}

export interface ServerStateChange {
  server: string;
  state: 'UP' | 'DOWN';
  /** performance.now() when the line was read. */
  at: number;
  line: string;
}

export interface HaproxyProcess {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  readonly pid: number;
  readonly output: OutputLog;
  /** Every "Server <backend>/<name> is UP|DOWN" HAProxy has logged, in order. */
  readonly stateChanges: ServerStateChange[];
  /** HAProxy's access log lines so far (one per request, `option httplog`). */
  readonly requestLines: string[];
  stop(): Promise<void>;
}

/**
 * Starts HAProxy with `config` (the text of a haproxy.cfg) bound to a free port of 127.0.0.1 and its servers at
 * `servers` (name -> host:port), and resolves once its /healthz (monitor-uri) answers.
 */
export async function startHaproxy(config: string, servers: Record<string, string>): Promise<HaproxyProcess> {
  const unavailable = haproxyUnavailable();
  if (unavailable) throw new HarnessUnavailableError(unavailable);
  const binary = findExecutable(BINARY)!;
  const directory = makeTempDir('mp-haproxy-');
  try {
    return await onAFreePort(async (port) => {
      const file = path.join(directory.path, 'haproxy.cfg');
      await writeFile(file, relocate(config, `127.0.0.1:${port}`, servers));
      const check = spawnSync(binary, ['-c', '-f', file], { encoding: 'utf8' });
      if (check.status !== 0) throw failure('haproxy -c refused the configuration', `${check.stdout}${check.stderr}`);

      // -db: in the foreground, logging to stdout as a container runs it.
      const child = spawn(binary, ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      const pid = child.pid ?? -1;
      if (pid > 0) ownProcess(pid);
      const output = new OutputLog();
      const stateChanges: ServerStateChange[] = [];
      const requestLines: string[] = [];
      let exited = false;
      const exit = new Promise<string>((resolve) => {
        child.once('error', (error) => resolve(`could not be started: ${error.message}`));
        child.once('exit', (code, signal) => resolve(signal ? `died of ${signal}` : `exited with ${code}`));
      }).then((how) => {
        exited = true;
        if (pid > 0) disownProcess(pid);
        return how;
      });
      const read = (stream: NodeJS.ReadableStream) => {
        let pending = '';
        stream.on('data', (chunk: Buffer) => {
          output.append(chunk);
          pending += chunk.toString();
          const lines = pending.split('\n');
          pending = lines.pop()!;
          for (const line of lines) {
            const change = /Server \S+\/(\S+) is (UP|DOWN)\b/.exec(line);
            if (change) {
              // HAProxy says it on stderr and in its log on stdout: one change, counted once.
              const last = stateChanges.findLast((seen) => seen.server === change[1]);
              if (last?.state !== change[2])
                stateChanges.push({
                  server: change[1]!,
                  state: change[2] as 'UP' | 'DOWN',
                  at: performance.now(),
                  line,
                });
            } else if (/\] graphql \S+\/\S+ /.test(line)) {
              requestLines.push(line);
            }
          }
        });
      };
      read(child.stdout);
      read(child.stderr);

      const base = `http://127.0.0.1:${port}`;
      try {
        await waitFor(
          'HAProxy to answer its /healthz',
          async () => {
            if (exited) throw new StopWaiting(failure(`haproxy ${await exit}`, output.tail()));
            return (await fetch(`${base}/healthz`)).status === 200;
          },
          { timeoutMs: 15_000, explain: () => output.tail() },
        );
      } catch (error) {
        child.kill('SIGKILL');
        await exit;
        throw error;
      }
      return {
        port,
        base,
        pid,
        output,
        stateChanges,
        requestLines,
        async stop() {
          if (exited) return;
          // A hard stop: by now the test has nothing left in flight.
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exit;
          clearTimeout(timer);
          await directory.remove();
        },
      };
    });
  } catch (error) {
    await directory.remove();
    throw error;
  }
}
