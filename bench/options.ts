import { parseArgs } from 'node:util';
import type { LoadSettings } from './load.js';

// `npm run bench -- [options]`: every knob of a run, with defaults that match the speed issue's method.

export const USAGE = `Usage: npm run bench -- [options]

Starts what it needs (gateways, a bare node:http ceiling, PostGraphile 5 as the peer, a private Redis when
redis-server is installed), prepares two seeded databases on the PostgreSQL of BENCH_DATABASE_URL or
DATABASE_URL, runs autocannon against each scenario and writes bench/RESULTS.md and bench/results.json.

  --fresh             recreate the bench databases even when they were seeded with the same parameters
  --only IDS          run only these scenarios (comma-separated; see --list); results go to
                      bench/results.partial.{md,json} instead of RESULTS.md and results.json
  --list              print the scenario ids and exit
  --seed S            seed of the demo data (default 42)
  --until YYYY-MM-DD  last day of the demo data (default 2025-06-30)
  --connections N     concurrent connections (default 10)
  --rounds N          measured rounds per scenario; the report takes the median (default 3)
  --duration S        seconds per round (default 10)
  --warmup S          seconds of warm-up before the rounds, not measured (default 3)
  --timeout S         seconds before a response counts as timed out (default 30)
  --samples N         responses checked one by one before the warm-up and each round (default 3)
  --cache-ttl S       CACHE_TTL_SECONDS of the cache-on gateways (default 300)
  -h, --help          show this help

Environment: BENCH_DATABASE_URL or DATABASE_URL (a PostgreSQL where it may create databases, required);
BENCH_REDIS_URL (optional: a Redis to use instead of a private redis-server).`;

export interface BenchOptions {
  fresh: boolean;
  only: string[] | undefined;
  list: boolean;
  seed: number;
  until: string;
  cacheTtlSeconds: number;
  load: LoadSettings;
}

export class UsageError extends Error {}

export function parseOptions(args: string[]): BenchOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        fresh: { type: 'boolean', default: false },
        only: { type: 'string' },
        list: { type: 'boolean', default: false },
        seed: { type: 'string', default: '42' },
        until: { type: 'string', default: '2025-06-30' },
        connections: { type: 'string', default: '10' },
        rounds: { type: 'string', default: '3' },
        duration: { type: 'string', default: '10' },
        warmup: { type: 'string', default: '3' },
        timeout: { type: 'string', default: '30' },
        samples: { type: 'string', default: '3' },
        'cache-ttl': { type: 'string', default: '300' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return 'help';
  const problems: string[] = [];
  const integer = (name: string, text: string, min: number) => {
    const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min)
      problems.push(`--${name} must be an integer ≥ ${min}, got '${text}'`);
    return value;
  };
  if (!/^\d{4}-\d{2}-\d{2}$/.test(values.until)) problems.push(`--until must be YYYY-MM-DD, got '${values.until}'`);
  const options: BenchOptions = {
    fresh: values.fresh,
    only: values.only
      ?.split(',')
      .map((id) => id.trim())
      .filter(Boolean),
    list: values.list,
    seed: integer('seed', values.seed, 0),
    until: values.until,
    cacheTtlSeconds: integer('cache-ttl', values['cache-ttl'], 1),
    load: {
      connections: integer('connections', values.connections, 1),
      rounds: integer('rounds', values.rounds, 1),
      durationSeconds: integer('duration', values.duration, 1),
      warmupSeconds: integer('warmup', values.warmup, 0),
      timeoutSeconds: integer('timeout', values.timeout, 1),
      samples: integer('samples', values.samples, 1),
    },
  };
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  return options;
}
