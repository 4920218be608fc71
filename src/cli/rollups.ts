import { parseArgs } from 'node:util';
import { isTimeZone, maskPassword, readToolEnvironment, type ToolEnvironment } from '../config/config.js';
import { connectPostgres } from '../db/postgres-connector.js';
import { UNDEFINED_TABLE } from '../db/migrator.js';
import { readDatabaseReportZone, rezoneRollups } from '../db/rollups.js';
import { consoleOutput, invokedDirectly, type CommandOutput, type OpenDatabase } from './command.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

const UNDEFINED_FUNCTION = '42883';

export const USAGE = `Usage: npm run rollups -- [--timezone ZONE]

Shows the database's report time zone, or with --timezone makes ZONE the zone its report days are counted in:
the rollups are built for it beside the old ones and swapped in at the end, so reports keep being served from
the old ones meanwhile and wait only for the swap (a moment); writes wait for the whole build. New sessions report
in ZONE from then on. Gateways whose REPORT_TIMEZONE is another zone turn not ready and refuse reports until they
are restarted with REPORT_TIMEZONE=ZONE. Run it as the role that migrates (it owns the rollups and the database).

  --timezone ZONE    an IANA time zone name, such as UTC or Asia/Jerusalem
  -h, --help         show this help

Environment: DATABASE_DIRECT_URL, else DATABASE_URL (required).`;

function redact(url: string): string {
  try {
    return maskPassword(url);
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

/** Runs `rollups` with the given arguments and returns the process exit code; output goes through `output`. */
export async function runRollupsCommand(
  args: string[],
  environment: ToolEnvironment,
  output: CommandOutput = consoleOutput,
  open: OpenDatabase = connectPostgres,
): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: { timezone: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
    }));
  } catch (error) {
    output.err(`rollups: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (values.help) {
    output.out(USAGE);
    return EXIT_OK;
  }
  const zone = values.timezone?.trim();
  if (zone !== undefined && !isTimeZone(zone)) {
    output.err(
      `rollups: --timezone must be an IANA time zone name such as UTC or Asia/Jerusalem, got '${zone}'\n\n${USAGE}`,
    );
    return EXIT_USAGE;
  }
  if (!environment.databaseUrl) {
    output.err(
      'rollups: DATABASE_URL is not set; point it (or DATABASE_DIRECT_URL) at the PostgreSQL whose rollups to build',
    );
    return EXIT_USAGE;
  }
  const target = redact(environment.databaseUrl);
  // The build reads every transaction: no statement timeout, and one session for the whole transaction.
  const handle = open(environment.databaseUrl, { poolMax: 1, statementTimeoutMs: 0 });
  try {
    if (zone === undefined) {
      const current = await readDatabaseReportZone(handle.db);
      output.out(`${target} reports days in ${current.rollups ?? '(no zone: run npm run migrate)'}`);
      if (current.sessions !== current.rollups)
        output.out(`its sessions default to ${current.sessions ?? '(none)'}: run npm run migrate to set it again`);
      return EXIT_OK;
    }
    const started = performance.now();
    const { previous, exclusiveMs } = await rezoneRollups(handle.db, zone);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    output.out(
      `rebuilt the rollups of ${target} for report days in ${zone} (they held ${previous ?? 'none'}) in ${seconds} s; ` +
        `reports waited at most ${exclusiveMs.toFixed(1)} ms for the swap`,
    );
    if (previous !== zone) {
      output.out(
        `gateways with REPORT_TIMEZONE=${previous} now answer 503 until restarted with REPORT_TIMEZONE=${zone}; ` +
          `behind PgBouncer, run RECONNECT on its console so that its server sessions take the new zone`,
      );
    }
    return EXIT_OK;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === UNDEFINED_TABLE || code === UNDEFINED_FUNCTION) {
      output.err(`rollups: ${target} is not migrated; run \`npm run migrate\` first`);
    } else {
      output.err(`rollups: failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    return EXIT_FAILED;
  } finally {
    await handle.close();
  }
}

// Imported (by the tests) it only exports; run as a script it works.
if (invokedDirectly(import.meta.url)) {
  process.exitCode = await runRollupsCommand(process.argv.slice(2), readToolEnvironment());
}
