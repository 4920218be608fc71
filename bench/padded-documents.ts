import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { loadConfig } from '../src/config/config.js';
import { openEmbedded } from '../src/db/pglite-connector.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { createGateway } from '../src/app/create-gateway.js';

// What distinct documents padded with comments cost the gateway's memory: each is a valid, cheap query
// (comments are not tokens, so the token limit lets them through) sent once, in process, to a gateway on an
// in-memory embedded database. Prints RSS and heap after a full garbage collection, before and after.
//
//   node --expose-gc --import tsx bench/padded-documents.ts [--documents 2000] [--bytes 90000] [--padding long|short]
//
// `long` pads with comment lines of 1,000 characters, `short` with one-character comments (a token each for
// the lexer, which keeps them all). Gateway settings come from the environment (QUERY_MAX_BYTES,
// DOCUMENT_CACHE_MB, ...), as for `npm start`.

const { values } = parseArgs({
  options: {
    documents: { type: 'string', default: '2000' },
    bytes: { type: 'string', default: '90000' },
    padding: { type: 'string', default: 'long' },
  },
});
const documents = Number(values.documents);
const bytes = Number(values.bytes);
const line = values.padding === 'short' ? '#\n' : `#${'x'.repeat(998)}\n`;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

function memory(): { rssMiB: number; heapMiB: number } {
  for (let i = 0; i < 3; i++) gc!();
  const { rss, heapUsed } = process.memoryUsage();
  return { rssMiB: Math.round(rss / 2 ** 20), heapMiB: Math.round(heapUsed / 2 ** 20) };
}

function padded(index: number): string {
  const head = `query Padded${index} { dashboard { totalTransactions } }\n`;
  return `${head}${line.repeat(Math.max(0, Math.floor((bytes - head.length) / line.length)))}`;
}

const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent', RATE_LIMIT_POINTS: '0' });
// A fresh embedded database reports in UTC.
const database = await openEmbedded(undefined);
await migrateToLatest(database);
const gateway = await createGateway(config, database, pino({ level: 'silent' }));
await gateway.app.ready();

const send = (query: string) =>
  gateway.app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ query }),
  });

// Warm up every path once, so that the first measurement holds the gateway and not its lazy start.
await send('{ dashboard { totalTransactions } }');
const before = memory();
const outcomes = new Map<string, number>();
for (let i = 0; i < documents; i++) {
  const response = await send(padded(i));
  const code =
    response.json<{ errors?: { extensions?: { code?: string } }[] }>().errors?.[0]?.extensions?.code ??
    `HTTP ${response.statusCode}`;
  outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
}
const after = memory();
console.log(
  JSON.stringify({
    documents,
    bytesEach: padded(0).length,
    padding: values.padding,
    answers: Object.fromEntries(outcomes),
    before,
    after,
    grewMiB: { rss: after.rssMiB - before.rssMiB, heap: after.heapMiB - before.heapMiB },
  }),
);
await gateway.app.close();
await database.close();
