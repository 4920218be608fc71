import type { PreparedDatabase } from './databases.js';
import { requestBody } from './http.js';
import { ANSWERS_PER_CONNECTION, type LoadSettings } from './load.js';
import type { MachineInfo } from './machine.js';
import type { Catalogue, LoadOutcome, Outcome, TargetVerdict } from './scenario.js';

// bench/RESULTS.md from a run's results (the same object is written as results.json).

export interface RunResults {
  startedAt: string;
  durationSeconds: number;
  /** True for --only runs. */
  partial: boolean;
  machine: MachineInfo;
  settings: LoadSettings & { seed: number; until: string; cacheTtlSeconds: number };
  redis: string | null;
  databases: (Omit<PreparedDatabase, 'url'> & { host: string })[];
  outcomes: Outcome[];
  targets: { id: string; label: string; verdict: TargetVerdict | null }[];
}

const ms = (value: number) =>
  Number.isNaN(value)
    ? '–'
    : value < 1
      ? `${value.toFixed(2)} ms`
      : value < 100
        ? `${value.toFixed(1)} ms`
        : `${Math.round(value).toLocaleString('en-US')} ms`;
const rps = (value: number) => (value < 100 ? value.toFixed(1) : Math.round(value).toLocaleString('en-US'));
const count = (value: number) => value.toLocaleString('en-US');

/** What the sampled answers said about the cache, where it matters: hit scenarios, or a hit where none belongs. */
function cacheNotes(outcome: LoadOutcome): string[] {
  const expectsHits = outcome.expectCacheHit;
  const { cache } = outcome.samples;
  if (expectsHits) return [cache === 'absent' ? 'no cache in this build (served uncached)' : `cache ${cache}`];
  if (outcome.expectCacheMiss)
    return [
      cache === 'miss' ? 'cache miss (every answer checked)' : `**cache ${cache} where every answer should miss**`,
    ];
  return cache === 'hit' || cache === 'mixed' ? [`**cache ${cache} where the cache is off**`] : [];
}

function notesColumn(outcome: LoadOutcome, durationSeconds: number, connections: number): string {
  const notes: string[] = [];
  notes.push(...cacheNotes(outcome));
  notes.push(...outcome.serviceNotes);
  if (outcome.roundSeconds > durationSeconds) notes.push(`rounds of ${outcome.roundSeconds} s (slow answers)`);
  const byLatency = outcome.rounds.filter((round) => round.ratedByLatency);
  if (byLatency.length > 0) {
    notes.push(
      `rated by ${connections} connections / median latency in ${byLatency.length} of ${outcome.rounds.length} rounds ` +
        `(${byLatency.map((round) => round.responses).join(', ')} answers completed)`,
    );
  }
  if (outcome.sameAnswer)
    notes.push(
      outcome.sameAnswer.equal
        ? `same figures as ${outcome.sameAnswer.scenario}`
        : `**differs from ${outcome.sameAnswer.scenario}**`,
    );
  return notes.join('; ');
}

function scenarioTable(outcomes: Outcome[], durationSeconds: number, connections: number): string {
  const lines = ['| scenario | req/s | p50 | p99 | errors | notes |', '|---|---:|---:|---:|---:|---|'];
  for (const outcome of outcomes) {
    if (outcome.kind === 'load') {
      lines.push(
        `| ${outcome.title} | ${rps(outcome.median.reqPerSec)} | ${ms(outcome.median.p50Ms)} | ${ms(outcome.median.p99Ms)} | ` +
          `${count(outcome.errors)} | ${notesColumn(outcome, durationSeconds, connections)} |`,
      );
    } else if (outcome.kind === 'failed') {
      lines.push(`| ${outcome.title} | – | – | – | failed | ${outcome.error.split('\n')[0]!.replace(/\|/g, '\\|')} |`);
    }
  }
  return lines.join('\n');
}

function roundsTable(outcomes: Outcome[]): string {
  const lines = [
    '| scenario | round | req/s | p50 | p99 | responses | non-2xx | socket errors | timeouts | bad bodies |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const outcome of outcomes) {
    if (outcome.kind !== 'load') continue;
    outcome.rounds.forEach((round, i) => {
      lines.push(
        `| ${outcome.id} | ${i + 1} | ${rps(round.reqPerSec)}${round.ratedByLatency ? ' ¹' : ''} | ${ms(round.p50Ms)} | ${ms(round.p99Ms)} | ${count(round.responses)} | ` +
          `${round.non2xx} | ${round.socketErrors} | ${round.timeouts} | ${round.mismatches} |`,
      );
    });
  }
  return lines.join('\n');
}

function queriesSection(outcomes: Outcome[], catalogue: Catalogue): string {
  const seen = new Map<string, { ids: string[]; varies: Set<string> }>();
  for (const scenario of catalogue.scenarios) {
    const outcome = outcomes.find((o): o is LoadOutcome => o.kind === 'load' && o.id === scenario.id);
    if (scenario.kind !== 'load' || !outcome) continue;
    const body = requestBody(scenario.request);
    const entry = seen.get(body) ?? { ids: [], varies: new Set<string>() };
    entry.ids.push(scenario.id);
    if (outcome.varies) entry.varies.add(`${scenario.id}: ${outcome.varies}`);
    seen.set(body, entry);
  }
  return [...seen]
    .map(([body, { ids, varies }]) => {
      const { query, variables } = JSON.parse(body) as { query: string; variables?: unknown };
      const vars = variables ? `\n\nvariables: \`${JSON.stringify(variables)}\`` : '';
      const varying = varies.size > 0 ? `\n\n${[...varies].map((line) => `- ${line}`).join('\n')}` : '';
      return `**${ids.join(', ')}**\n\n\`\`\`graphql\n${query}\n\`\`\`${vars}${varying}`;
    })
    .join('\n\n');
}

export function renderResults(results: RunResults, catalogue: Catalogue): string {
  const { machine, settings } = results;
  const date = results.startedAt.slice(0, 16).replace('T', ' ');
  const probes = results.outcomes.filter((o) => o.kind === 'probe');
  const checks = results.outcomes.flatMap((o) => {
    if (o.kind !== 'load') return [];
    const lines: string[] = [];
    if (o.samples.problems.length > 0) lines.push(`- ${o.id}: ${o.samples.problems.slice(0, 3).join('; ')}`);
    if (o.sameAnswer) {
      lines.push(
        `- ${o.id}: ${o.sameAnswer.equal ? 'sampled answer has the same figures as' : 'sampled answer **differs** from'} ${o.sameAnswer.scenario}` +
          (o.sameAnswer.detail ? ` (${o.sameAnswer.detail})` : ''),
      );
    }
    if (o.expectCacheHit || o.samples.cache === 'hit' || o.samples.cache === 'mixed') {
      lines.push(`- ${o.id}: \`extensions.cache.hit\` in the samples before the rounds: ${o.samples.cache}`);
    }
    return lines;
  });

  return `# Benchmark results

${results.partial ? '**Partial run (`--only`)**: not every scenario ran.\n\n' : ''}Produced by \`npm run bench\` (see [README.md](README.md)) on ${date} UTC in ${Math.round(results.durationSeconds / 60)} min${
    machine.commit
      ? `, at commit \`${machine.commit}\`${machine.uncommittedChanges ? ' with uncommitted changes' : ''}`
      : ''
  }.

| machine | |
|---|---|
| CPU | ${machine.cores} × ${machine.cpuModel} |
| memory | ${machine.memoryGiB} GiB |
| OS | ${machine.os} |
| Node (gateway, load generator) | ${machine.node} |
| Node (PostGraphile) | ${machine.peerNode ?? '–'} |
| PostgreSQL | ${machine.postgres} |
| Redis | ${machine.redis ? `${machine.redis} (${results.redis})` : (results.redis ?? '–')} |
| autocannon / PostGraphile | ${machine.autocannon} / ${machine.postgraphile ?? '–'} |

Method: autocannon, ${settings.connections} connections, ${settings.warmupSeconds} s warm-up, then ${settings.rounds} rounds of ${settings.durationSeconds} s;
req/s, p50 and p99 are the **median of the rounds** (a server so slow that its rounds are lengthened, or a round that completes
fewer than ${ANSWERS_PER_CONNECTION} answers per connection, is rated by ${settings.connections} connections / its median latency); **errors are the sum over all rounds** (non-2xx, socket errors,
timeouts after ${settings.timeoutSeconds} s, bodies without \`data\` or with \`errors\`, a cache hit where every answer must miss or
the reverse) plus sampled responses that failed their checks (${settings.samples} before the warm-up and before each round).
Load generator, servers and PostgreSQL share the machine.
Data: \`npm run seed -- --seed ${settings.seed} --until ${settings.until}\`:
${results.databases.map((db) => `\`${db.name}\` ${count(db.counts.transactions)} transactions, ${count(db.counts.customers)} customers, ${count(db.counts.products)} products${db.reused ? ' (reused)' : ` (seeded in ${Math.round(db.prepareSeconds)} s)`}`).join('; ')}.

## Scenarios

${scenarioTable(results.outcomes, settings.durationSeconds, settings.connections)}

## Targets

| target | result | |
|---|---|:-:|
${results.targets.map((t) => `| ${t.label} | ${t.verdict?.actual ?? 'not measured'} | ${t.verdict === null ? '➖' : t.verdict.ok ? '✅' : '❌'} |`).join('\n')}
${probes
  .map(
    (probe) => `
## ${probe.title}

| request | statements |
|---|---:|
${probe.rows.map((row) => `| ${row.label} | ${row.value} |`).join('\n')}
${probe.problems.length > 0 ? `\nProblems: ${probe.problems.join('; ')}\n` : ''}`,
  )
  .join('')}
## Checks

${checks.length > 0 ? checks.join('\n') : '- nothing to report'}

## Queries

Every request is a \`POST /graphql\` with \`content-type: application/json\`. The ceiling receives the dashboard request
and answers with the bytes the gateway gave for it. The gateway's dashboard and PostGraphile's equivalent ask for the
same figures: totals over all data, the top 5 products by completed revenue (ties by id) and the 30 zero-filled days
ending at the last day with a transaction; PostGraphile reads them from the plain views of
[postgraphile/plain-views.sql](postgraphile/plain-views.sql), aggregated live on every request.

${queriesSection(results.outcomes, catalogue)}

## Rounds

${roundsTable(results.outcomes)}
${results.outcomes.some((o) => o.kind === 'load' && o.rounds.some((round) => round.ratedByLatency)) ? `\n¹ A server too slow to complete more than a few answers per connection in a round: rated by ${settings.connections} connections / median latency.\n` : ''}`;
}
