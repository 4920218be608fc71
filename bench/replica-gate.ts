import 'reflect-metadata';

import { pino } from 'pino';
import { ChangeListener } from '../src/changes/change-listener.js';
import type { DatabaseHandle } from '../src/db/database-handle.js';
import { connectPostgres } from '../src/db/postgres-connector.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { ReadReplicas } from '../src/db/read-replicas.js';
import { readDatabaseReportZone, rezoneRollups } from '../src/db/rollups.js';
import { createGateway, type Gateway } from '../src/app/create-gateway.js';
import { seedDatabase } from '../src/seed/seed-database.js';
import { startReplicaPair } from '../test/support/replica-pair.js';
import { loadConfig } from '../src/config/config.js';

// What the replica gate costs a request: uncached dashboards answered in process, one after another, by a
// gateway reading from the primary and by one reading from a streaming replica (DATABASE_READ_URL), in
// alternating rounds on a throwaway primary/replica pair of this machine. Both servers hold the same data on the
// same disk, so the difference is the gateway's routing: the gate's check per statement, and nothing else once
// the replica has replayed the current version. `npm run bench:replicas [-- --requests N --rounds R]`.

const DATABASE = 'mp_bench_replicas';
const argument = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
};
const REQUESTS = argument('requests', 400);
const ROUNDS = argument('rounds', 5);
const TRANSACTIONS = argument('transactions', 20_000);
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const QUERY = JSON.stringify({
  query:
    '{ dashboard { totalRevenue totalTransactions avgOrderValue topProducts { revenue product { name } } recentTrend(days: 7) { totalRevenue } } }',
});

async function timedRound(gateway: Gateway): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < REQUESTS; i++) {
    const response = await gateway.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/json' },
      payload: QUERY,
    });
    if (response.statusCode !== 200 || response.body.includes('"errors"'))
      throw new Error(`request failed: ${response.body}`);
  }
  return (performance.now() - started) / REQUESTS;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const pair = await startReplicaPair();
let primary: DatabaseHandle | undefined;
try {
  await pair.createDatabase(DATABASE);
  primary = connectPostgres(pair.primaryUrl(DATABASE), { reportTimezone: 'UTC' });
  await migrateToLatest(primary);
  if ((await readDatabaseReportZone(primary.db)).rollups !== 'UTC') await rezoneRollups(primary.db, 'UTC');
  await seedDatabase(primary.db, { transactions: TRANSACTIONS });
  await pair.waitForReplay();
  const changes = await ChangeListener.start(primary, silent);
  await changes.whenListening();
  let replicaReads = 0;
  const replicas = new ReadReplicas(
    { db: primary.db, statements: primary.statements! },
    [pair.replicaUrl(DATABASE)],
    { reportTimezone: 'UTC' },
    {
      maxWaitMs: 0,
      changes,
      logger: silent,
      onRead: (target) => void (target === 'replica' && (replicaReads += 1)),
    },
  );
  const config = loadConfig({
    NODE_ENV: 'production',
    CURSOR_SECRET: 'bench-cursor-secret-0123456789',
    HEALTH_TIMEOUT_MS: '1000',
    RATE_LIMIT_POINTS: '0',
  });
  const logger = pino({ level: 'silent' });
  const onPrimary = await createGateway(config, primary, logger, { changes });
  const onReplica = await createGateway(config, primary, logger, { changes, replicas });
  // Warm-up: prepared statements on every session, JIT of the gateway's paths, the gate's position read.
  await timedRound(onPrimary);
  await timedRound(onReplica);
  if (replicaReads === 0) throw new Error('no read reached the replica');
  const primaryMs: number[] = [];
  const db = primary.db;
  const replicaMs: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    primaryMs.push(await timedRound(onPrimary));
    const before = replicaReads;
    replicaMs.push(await timedRound(onReplica));
    if (replicaReads === before) throw new Error('the replica gateway read from the primary');
  }
  // The gate alone: a connection taken and given back through each route, with no statement, so that what
  // differs is the routing (the version compared, the replica picked, its session's replay position looked up).
  const CHECKOUTS = 20_000;
  const checkout = async (through: typeof db) => {
    const started = performance.now();
    for (let i = 0; i < CHECKOUTS; i++) await through.connection().execute(async () => undefined);
    return ((performance.now() - started) * 1000) / CHECKOUTS;
  };
  await checkout(db);
  await checkout(replicas.db);
  const primaryCheckout: number[] = [];
  const replicaCheckout: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    primaryCheckout.push(await checkout(db));
    replicaCheckout.push(await checkout(replicas.db));
  }
  const a = median(primaryMs);
  const b = median(replicaMs);
  console.log(`${REQUESTS} uncached dashboards per round, ${ROUNDS} rounds, ${TRANSACTIONS} transactions`);
  console.log(
    `reads on the primary:            ${(a * 1000).toFixed(0)} µs per request (rounds: ${primaryMs.map((ms) => (ms * 1000).toFixed(0)).join(', ')})`,
  );
  console.log(
    `reads on the replica, gated:     ${(b * 1000).toFixed(0)} µs per request (rounds: ${replicaMs.map((ms) => (ms * 1000).toFixed(0)).join(', ')})`,
  );
  console.log(`ratio replica / primary:         ${(b / a).toFixed(3)}`);
  const c = median(primaryCheckout);
  const d = median(replicaCheckout);
  console.log(
    `a connection taken and released: ${c.toFixed(2)} µs from the primary's pool, ${d.toFixed(2)} µs through the gate (+${(d - c).toFixed(2)} µs per statement)`,
  );
  await onPrimary.app.close();
  await onReplica.app.close();
  await replicas.close();
  await changes.close();
} finally {
  await primary?.close();
  await pair.stop();
}
