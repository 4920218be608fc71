import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The arguments for `node` that run a source file as production does: its compiled module under dist/ (built
 * once per run by the global setup), with source maps so that stack traces name the TypeScript lines.
 * Tests name the source (`src/cli/seed.ts`), so that they follow it when it moves.
 */
export function compiledEntry(source: string): string[] {
  if (!/^src\/.+\.ts$/.test(source)) throw new Error(`not a source file under src/: ${source}`);
  return ['--enable-source-maps', `${repoRoot}dist/${source.slice('src/'.length, -'.ts'.length)}.js`];
}
