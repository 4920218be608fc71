import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { freePort, isRunning, onAFreePort, startServer, StopWaiting, waitFor } from '../support/child-processes.js';

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'leave-leftovers.ts');

/** Runs the stand-in test process until it has reported its server and directory. */
async function leaveLeftovers(mode: 'exit' | 'throw' | 'hang') {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const report = await waitFor(
    'the stand-in test process to report',
    async () => (stdout.includes('\n') ? stdout : undefined),
    {
      timeoutMs: 20_000,
      explain: () => stderr,
    },
  );
  const exited = new Promise<void>((resolve) =>
    child.exitCode !== null ? resolve() : child.once('exit', () => resolve()),
  );
  return { child, exited, stderr: () => stderr, ...(JSON.parse(report) as { pid: number; dir: string }) };
}

async function expectCleanedUp(pid: number, dir: string, withinMs: number) {
  await waitFor(`server ${pid} to end and ${dir} to go`, async () => !isRunning(pid) && !existsSync(dir), {
    timeoutMs: withinMs,
    intervalMs: 50,
  });
}

describe('processes and directories a harness leaves when the test process ends', () => {
  it('ends them when the test process exits normally', async () => {
    const { pid, dir, exited } = await leaveLeftovers('exit');
    await exited;
    await expectCleanedUp(pid, dir, 3_000);
  });

  it('ends them when the test process dies of an uncaught error', async () => {
    const { pid, dir, exited, stderr } = await leaveLeftovers('throw');
    await exited;
    expect(stderr()).toContain('an uncaught error in the test process');
    await expectCleanedUp(pid, dir, 3_000);
  });

  it('ends them when the test process is killed with SIGKILL', async () => {
    const { pid, dir, child, exited } = await leaveLeftovers('hang');
    expect(isRunning(pid)).toBe(true);
    child.kill('SIGKILL');
    await exited;
    // The reaper signals, waits for the process to go, then removes the directory.
    await expectCleanedUp(pid, dir, 8_000);
  });
});

describe('ports and waits', () => {
  it('hands out ports that a server can bind, never the same one twice', async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    expect(new Set(ports).size).toBe(20);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: ports[0] }, resolve));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('starts again on another port when the port was taken in the meantime', async () => {
    const tried: number[] = [];
    const port = await onAFreePort(async (candidate) => {
      tried.push(candidate);
      if (tried.length === 1) throw new Error(`bind(): Address already in use (${candidate})`);
      return candidate;
    });
    expect(tried).toHaveLength(2);
    expect(port).toBe(tried[1]);
    expect(tried[0]).not.toBe(tried[1]);
  });

  it("gives up at once, with the server's output, when the server exits while being waited for", async () => {
    const server = startServer('sh', ['-c', 'echo "FATAL cannot load config file" >&2; exit 3']);
    const began = performance.now();
    await expect(
      waitFor(
        'a server that will not come up',
        async () => {
          if (server.hasExited())
            throw new StopWaiting(new Error(`the server ${await server.exited}: ${server.output.tail()}`));
          return false;
        },
        { timeoutMs: 10_000 },
      ),
    ).rejects.toThrow(/the server exited with 3: FATAL cannot load config file/);
    expect(performance.now() - began).toBeLessThan(5_000);
  });

  it('fails a wait that times out with the output that explains it', async () => {
    await expect(
      waitFor('something that never happens', async () => false, {
        timeoutMs: 100,
        explain: () => 'the log line that explains it',
      }),
    ).rejects.toThrow(
      /timed out after 100 ms waiting for something that never happens\n--- output ---\nthe log line that explains it/,
    );
    await sleep(0);
  });
});
