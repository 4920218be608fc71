import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { postgraphileDir, postgraphileNode } from './services.js';

// Where a run happened, so that numbers from different machines or commits are never compared unawares.

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  peerNode: string | null;
  postgres: string;
  redis: string | null;
  autocannon: string;
  postgraphile: string | null;
  commit: string | null;
  /** True when the working tree differed from the commit. */
  uncommittedChanges: boolean | null;
}

function quiet(command: string, args: string[], cwd: string): string | null {
  try {
    // GIT_OPTIONAL_LOCKS=0: `git status` must not refresh (write) the index of a tree others work in.
    return execFileSync(command, args, {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' },
    }).trim();
  } catch {
    return null;
  }
}

function versionOf(packageJson: string): string | null {
  return existsSync(packageJson)
    ? (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version
    : null;
}

export function describeMachine(repoRoot: string, postgres: string, redis: string | null): MachineInfo {
  const require = createRequire(import.meta.url);
  const status = quiet('git', ['status', '--porcelain'], repoRoot);
  return {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    peerNode: existsSync(postgraphileNode(repoRoot))
      ? quiet(postgraphileNode(repoRoot), ['--version'], repoRoot)
      : null,
    postgres,
    redis,
    autocannon: versionOf(require.resolve('autocannon/package.json')) ?? 'unknown',
    postgraphile: versionOf(path.join(postgraphileDir(repoRoot), 'node_modules', 'postgraphile', 'package.json')),
    commit: quiet('git', ['rev-parse', '--short', 'HEAD'], repoRoot),
    uncommittedChanges: status === null ? null : status.length > 0,
  };
}
