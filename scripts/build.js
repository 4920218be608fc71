// Compiles src/ into dist/ with swc, with the options in .swcrc, which the tests' transform (vitest.config.ts)
// reads too, so that what runs under test and what ships compile decorators and class fields the same way:
// legacy decorators (type-graphql's parameter decorators need them), no decorator metadata (every type is given
// in its decorator), class fields with assignment semantics (tsconfig's useDefineForClassFields: false), and
// class names kept (type-graphql names GraphQL types after them).
//
//   node scripts/build.js                       build once
//   node scripts/build.js --watch               build, then rebuild on every change under src/
//   node scripts/build.js --watch --run <file>  the same, and run <file> with node, which restarts it when a
//                                               module it loaded is rewritten
//
// Every source is compiled on every build (swc does the whole tree in a fraction of a second), but only outputs
// whose text changed are written, and outputs whose source is gone are removed: running this before every start
// is cheap, node --watch restarts only for real changes, and dist/ never holds a module that src/ no longer has
// (which would keep a stale import working). Files under src/ other than TypeScript are copied as they are.
// No swc CLI: it brings about a hundred packages for what the thirty lines over @swc/core below do.
import { spawn } from 'node:child_process';
import { watch } from 'node:fs';
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transform } from '@swc/core';

const root = fileURLToPath(new URL('..', import.meta.url));

/** @typedef {{ srcDir: string; distDir: string }} Layout */
/** @type {Layout} */
const projectLayout = { srcDir: join(root, 'src'), distDir: join(root, 'dist') };

/**
 * The transform options; `swcrc: false` because they are handed over here, not looked up a second time.
 * @returns {Promise<import('@swc/core').Options>}
 */
export async function readSwcOptions() {
  return { ...JSON.parse(await readFile(join(root, '.swcrc'), 'utf8')), swcrc: false };
}

/** @param {string} dir */
async function filesUnder(dir) {
  try {
    const entries = await readdir(dir, { withFileTypes: true, recursive: true });
    return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
  } catch (error) {
    if (/** @type {NodeJS.ErrnoException} */ (error).code === 'ENOENT') return [];
    throw error;
  }
}

/** @param {string} file */
const isTypeScript = (file) => file.endsWith('.ts') && !file.endsWith('.d.ts');

/** @typedef {{ file: string; text: string }} Output */

/**
 * @param {string} source
 * @param {import('@swc/core').Options} options
 * @param {Layout} layout
 * @returns {Promise<Output[]>}
 */
async function compile(source, options, { srcDir, distDir }) {
  const outFile = join(distDir, relative(srcDir, source)).replace(/\.ts$/, '.js');
  const result = await transform(await readFile(source, 'utf8'), {
    ...options,
    filename: source,
    // Stack traces (node --enable-source-maps) name the src/ file and line; the map points at the source rather
    // than carrying it, which keeps dist/ small.
    sourceMaps: true,
    inlineSourcesContent: false,
    sourceFileName: relative(dirname(outFile), source),
  });
  return [
    { file: outFile, text: `${result.code}\n//# sourceMappingURL=${basename(outFile)}.map\n` },
    { file: `${outFile}.map`, text: result.map ?? '' },
  ];
}

/** @param {Output} output */
async function writeIfChanged({ file, text }) {
  const current = await readFile(file, 'utf8').catch(() => undefined);
  if (current === text) return false;
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, text);
  return true;
}

/** @param {string} dir @param {boolean} keep */
async function removeEmptyDirectories(dir, keep) {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) if (entry.isDirectory()) await removeEmptyDirectories(join(dir, entry.name), false);
  if (!keep && (await readdir(dir)).length === 0) await rmdir(dir);
}

/**
 * One build; resolves to what it did, or rejects with swc's message when a source does not compile, leaving
 * dist/ as it was.
 * @param {Layout} [layout]
 */
export async function build(layout = projectLayout) {
  const started = performance.now();
  const options = await readSwcOptions();
  const sources = await filesUnder(layout.srcDir);
  const outputs = (
    await Promise.all(
      sources.map(async (source) =>
        isTypeScript(source)
          ? compile(source, options, layout)
          : [{ file: join(layout.distDir, relative(layout.srcDir, source)), text: await readFile(source, 'utf8') }],
      ),
    )
  ).flat();
  const written = (await Promise.all(outputs.map(writeIfChanged))).filter(Boolean).length;
  const expected = new Set(outputs.map((output) => output.file));
  const stale = (await filesUnder(layout.distDir)).filter((file) => !expected.has(file));
  await Promise.all(stale.map((file) => rm(file)));
  await removeEmptyDirectories(layout.distDir, true);
  return {
    modules: sources.filter(isTypeScript).length,
    written,
    removed: stale.length,
    ms: Math.round(performance.now() - started),
  };
}

async function buildAndReport() {
  try {
    const { modules, written, removed, ms } = await build();
    const changes = written + removed === 0 ? 'up to date' : `${written} file(s) written, ${removed} removed`;
    console.log(`dist/: ${modules} modules, ${changes} (${ms} ms)`);
    return true;
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    return false;
  }
}

/** @param {string | undefined} entry */
function watchSources(entry) {
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  /** @type {Promise<unknown>} */
  let running = Promise.resolve();
  const watcher = watch(projectLayout.srcDir, { recursive: true }, () => {
    clearTimeout(timer);
    // Editors write a file in several steps; one build after the burst.
    timer = setTimeout(() => {
      running = running.then(buildAndReport);
    }, 100);
  });
  if (!entry) return;
  // node's own watch mode restarts the program when a module it loaded changes, which is exactly when a rebuild
  // wrote new output for it.
  const child = spawn(process.execPath, ['--enable-source-maps', '--watch', entry], { stdio: 'inherit' });
  for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) process.once(signal, () => child.kill(signal));
  child.once('exit', (code, signal) => {
    watcher.close();
    clearTimeout(timer);
    process.exitCode = code ?? (signal ? 1 : 0);
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const built = await buildAndReport();
  if (args.includes('--watch')) {
    const runAt = args.indexOf('--run');
    watchSources(runAt === -1 ? undefined : args[runAt + 1]);
  } else if (!built) {
    process.exitCode = 1;
  }
}
