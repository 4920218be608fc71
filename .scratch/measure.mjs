// Readers of the reporting views during `npm run rollups` on a million transactions.
import pg from 'pg';
import { spawn } from 'node:child_process';
const url = 'postgres://postgres@127.0.0.1:5432/h11big';
const zone = process.argv[2];
const readers = await Promise.all([0, 1].map(async () => { const c = new pg.Client({ connectionString: url }); await c.connect(); return c; }));
const queries = [
  `/* dashboard.totals */ SELECT sum(revenue) FROM v_daily_revenue WHERE day >= $1::date`,
  `/* customers */ SELECT customer_id FROM v_customer_analytics ORDER BY lifetime_value DESC, customer_id LIMIT $1`,
];
let reading = true; const lat = []; let errors = 0;
const loops = readers.map(async (c0, i) => { let c = c0;
  while (reading) {
    const t = performance.now();
    try { await c.query(queries[i], [i === 0 ? '2026-01-01' : 20]); } catch (e) { errors++; if (e.code === 'MP001') { await c.end(); c = new pg.Client({ connectionString: url }); await c.connect(); } }
    lat.push([performance.now(), performance.now() - t]);
  }
});
await new Promise(r => setTimeout(r, 500));
const started = performance.now();
const child = spawn(process.execPath, ['dist/cli/rollups.js', '--timezone', zone], { env: { ...process.env, DATABASE_URL: url }, stdio: ['ignore', 'pipe', 'inherit'] });
let out = ''; child.stdout.on('data', d => out += d);
await new Promise(r => child.on('exit', r));
const ended = performance.now();
await new Promise(r => setTimeout(r, 300));
reading = false; await Promise.all(loops);
const during = lat.filter(([at]) => at >= started && at <= ended + 50).map(([, ms]) => ms).sort((a, b) => a - b);
const before = lat.filter(([at]) => at < started).map(([, ms]) => ms).sort((a, b) => a - b);
const pct = (a, p) => a[Math.min(a.length - 1, Math.floor(a.length * p))];
console.log(out.trim());
const slowest = lat.filter(([at]) => at >= started && at <= ended + 50).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([at, ms]) => `${ms.toFixed(1)} ms ending ${((ended - at)).toFixed(0)} ms before the command ended`);
console.log(slowest.join('\n'));
const swapWindow = lat.filter(([at]) => at >= ended - 1500 && at <= ended + 50).map(([, ms]) => ms);
console.log('last 1.5 s of the command: reads', swapWindow.length, 'max', Math.max(...swapWindow).toFixed(1), 'ms');
console.log(JSON.stringify({ commandMs: Math.round(ended - started), reads: during.length, errors, beforeP50: pct(before, 0.5)?.toFixed(1), duringP50: pct(during, 0.5)?.toFixed(1), duringP99: pct(during, 0.99)?.toFixed(1), duringMax: during.at(-1)?.toFixed(1) }));

process.exit(0);
