import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { runCommand } from './processes.js';

// The benchmark's databases: created on the server DATABASE_URL points at, migrated with `npm run migrate`,
// seeded with `npm run seed`. Seeding a million transactions takes a while, so a database is reused when it
// was seeded with the same parameters from the same migrations and seed code; `--fresh` recreates it anyway.
// The fingerprint lives in the database's comment and is written only after seeding succeeded, so a run
// interrupted half-way never leaves a database that looks ready.

export interface DatabaseSpec {
  /** Short key used by services and in results: '10k', '1m'. */
  id: string;
  /** Database name on the server. */
  name: string;
  transactions: number;
}

export interface SeedParameters {
  seed: number;
  until: string;
}

export interface PreparedDatabase extends DatabaseSpec {
  url: string;
  reused: boolean;
  /** Seconds spent creating, migrating, seeding and vacuuming (0 when reused). */
  prepareSeconds: number;
  counts: { customers: number; products: number; transactions: number };
  /** The first and last UTC day that has a transaction (the gateways report in UTC): ranges of varying requests lie within. */
  days: { first: string; last: string };
}

export interface DatabaseContext {
  /** A maintenance URL of the server: the benchmark creates its databases next to it. */
  adminUrl: string;
  repoRoot: string;
  logDir: string;
  fresh: boolean;
  parameters: SeedParameters;
  log: (line: string) => void;
}

const FINGERPRINT_PREFIX = 'marketpulse bench ';

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Hash of every file whose change changes what a seeded database holds. */
function codeFingerprint(repoRoot: string): string {
  const hash = createHash('sha256');
  const folders = ['sql/migrations', 'src/seed'];
  for (const folder of folders) {
    const dir = path.join(repoRoot, folder);
    for (const file of readdirSync(dir).sort()) {
      hash
        .update(`${folder}/${file}\0`)
        .update(readFileSync(path.join(dir, file)))
        .update('\0');
    }
  }
  hash.update(readFileSync(path.join(repoRoot, 'src/cli/seed.ts')));
  return hash.digest('hex').slice(0, 16);
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'marketpulse-bench' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
const quoteLiteral = (text: string) => `'${text.replace(/'/g, "''")}'`;

function childEnv(databaseUrl: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl, REPORT_TIMEZONE: 'UTC' };
  delete env.REDIS_URL;
  return env;
}

async function readContents(url: string): Promise<Pick<PreparedDatabase, 'counts' | 'days'>> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{
      customers: string;
      products: string;
      transactions: string;
      first: string | null;
      last: string | null;
    }>(
      `SELECT (SELECT count(*) FROM customers) AS customers, (SELECT count(*) FROM products) AS products,
              (SELECT count(*) FROM transactions) AS transactions,
              (SELECT to_char(min(transaction_date) AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM transactions) AS first,
              (SELECT to_char(max(transaction_date) AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM transactions) AS last`,
    );
    const row = rows[0]!;
    if (row.first === null || row.last === null) throw new Error('the bench database holds no transactions');
    return {
      counts: {
        customers: Number(row.customers),
        products: Number(row.products),
        transactions: Number(row.transactions),
      },
      days: { first: row.first, last: row.last },
    };
  });
}

/** Creates (or reuses) one seeded database and (re)creates the peer's plain views in it. */
export async function prepareDatabase(spec: DatabaseSpec, ctx: DatabaseContext): Promise<PreparedDatabase> {
  const started = performance.now();
  const url = withDatabase(ctx.adminUrl, spec.name);
  const fingerprint =
    FINGERPRINT_PREFIX +
    JSON.stringify({ transactions: spec.transactions, ...ctx.parameters, code: codeFingerprint(ctx.repoRoot) });

  const existing = await withClient(ctx.adminUrl, async (admin) => {
    const { rows } = await admin.query<{ comment: string | null }>(
      `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
      [spec.name],
    );
    return rows[0];
  });
  const reusable = existing !== undefined && existing.comment === fingerprint && !ctx.fresh;

  if (!reusable) {
    ctx.log(
      existing === undefined
        ? `creating database ${spec.name}`
        : `recreating database ${spec.name} (${ctx.fresh ? '--fresh' : 'seeded with other parameters or code'})`,
    );
    await withClient(ctx.adminUrl, async (admin) => {
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(spec.name)} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${quoteIdent(spec.name)}`);
    });
    const commandOptions = { command: 'npm', cwd: ctx.repoRoot, env: childEnv(url), logDir: ctx.logDir };
    await runCommand(`migrate-${spec.id}`, { ...commandOptions, args: ['run', '--silent', 'migrate'] });
    ctx.log(`seeding ${spec.transactions.toLocaleString('en-US')} transactions into ${spec.name}`);
    await runCommand(`seed-${spec.id}`, {
      ...commandOptions,
      args: [
        'run',
        '--silent',
        'seed',
        '--',
        '--transactions',
        String(spec.transactions),
        '--seed',
        String(ctx.parameters.seed),
        '--until',
        ctx.parameters.until,
      ],
    });
    // A steady state like a long-running server's: visibility map set (index-only scans), fresh statistics,
    // and the seed's dirty pages written now rather than by a checkpoint in the middle of a measurement.
    await withClient(url, async (client) => {
      await client.query('VACUUM (ANALYZE)');
      await client.query('CHECKPOINT').catch(() => ctx.log('CHECKPOINT not allowed for this role; skipped'));
    });
    await withClient(ctx.adminUrl, (admin) =>
      admin.query(`COMMENT ON DATABASE ${quoteIdent(spec.name)} IS ${quoteLiteral(fingerprint)}`),
    );
  } else {
    ctx.log(`reusing database ${spec.name} (same parameters and code; --fresh recreates it)`);
  }

  const views = readFileSync(path.join(ctx.repoRoot, 'bench/postgraphile/plain-views.sql'), 'utf8');
  await withClient(url, (client) => client.query(views));

  return {
    ...spec,
    url,
    reused: reusable,
    prepareSeconds: reusable ? 0 : (performance.now() - started) / 1000,
    ...(await readContents(url)),
  };
}

/** The server's version and whether it answers at all; the first thing a run checks. */
export async function readServerVersion(adminUrl: string): Promise<string> {
  return withClient(adminUrl, async (client) => {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return rows[0]!.server_version;
  });
}
