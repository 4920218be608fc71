// The benchmark's peer: PostGraphile 5 (Amber preset, its recommended defaults) serving the plain views of
// the `bench_plain` schema (plain-views.sql) on http://HOST:PORT/graphql. Started by `npm run bench` with
// the Node 22 of this folder's `node` package; it takes DATABASE_URL, HOST and PORT.
import { createServer } from 'node:http';
import { makePgService } from 'postgraphile/adaptors/pg';
import { grafserv } from 'postgraphile/grafserv/node';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';
import { postgraphile } from 'postgraphile';

const { DATABASE_URL, HOST = '127.0.0.1', PORT = '5678' } = process.env;
if (!DATABASE_URL) {
  console.error('DATABASE_URL is required');
  process.exit(2);
}

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  // The same pool size as the gateway's default PG_POOL_MAX.
  pgServices: [makePgService({ connectionString: DATABASE_URL, schemas: ['bench_plain'], poolConfig: { max: 10 } })],
  grafserv: { host: HOST, port: Number(PORT), graphqlPath: '/graphql', graphiql: false, watch: false },
  grafast: { explain: false },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.on('error', (error) => {
  console.error(error);
  process.exit(1);
});
await serv.addTo(server);
// Build the schema before listening, so that readiness means ready to answer.
await pgl.getSchema();
server.listen(Number(PORT), HOST, () => console.log(`PostGraphile on http://${HOST}:${PORT}/graphql`));

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    void pgl.release().finally(() => process.exit(0));
  });
}
