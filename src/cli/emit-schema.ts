import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { buildGatewaySchema, printGatewaySchema } from '../app/schema.js';

// Writes schema/schema.graphql from the code-first schema; with --check, fails when the committed file differs.

const target = fileURLToPath(new URL('../../schema/schema.graphql', import.meta.url));
const sdl = printGatewaySchema(await buildGatewaySchema());

if (process.argv.includes('--check')) {
  const committed = await readFile(target, 'utf8').catch(() => '');
  if (committed !== sdl) {
    console.error('schema/schema.graphql is out of date: run `npm run schema:emit` and commit the result.');
    process.exit(1);
  }
  console.log('schema/schema.graphql is up to date.');
} else {
  await writeFile(target, sdl);
  console.log(`wrote ${target}`);
}
