import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { build } from '../../scripts/build.js';
import { PERSISTED_DOCUMENTS_FILE } from '../../src/cache/persisted-documents.js';
import { MIGRATIONS_DIR } from '../../src/db/migrator.js';
import { compiledEntry } from '../support/built.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const scratch: string[] = [];

async function scratchLayout() {
  const dir = await mkdtemp(path.join(tmpdir(), 'marketpulse-build-'));
  scratch.push(dir);
  const layout = { srcDir: path.join(dir, 'src'), distDir: path.join(dir, 'dist') };
  await mkdir(layout.srcDir, { recursive: true });
  return layout;
}

async function filesUnder(dir: string) {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

afterEach(async () => {
  await Promise.all(scratch.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('npm run build', () => {
  it('compiles every source under src/ into a module with a source map that points back at it', async () => {
    const { distDir } = await scratchLayout();
    const srcDir = path.join(repoRoot, 'src');
    const result = await build({ srcDir, distDir });

    const sources = (await filesUnder(srcDir)).filter((file) => file.endsWith('.ts'));
    expect(result.modules).toBe(sources.length);
    const expected = sources.flatMap((file) => [file.replace(/\.ts$/, '.js'), file.replace(/\.ts$/, '.js.map')]).sort();
    expect(await filesUnder(distDir)).toEqual(expected);
    for (const source of sources) {
      const out = path.join(distDir, source.replace(/\.ts$/, '.js'));
      const map = JSON.parse(await readFile(`${out}.map`, 'utf8')) as { sources: string[]; sourcesContent?: unknown };
      expect(path.resolve(path.dirname(out), map.sources[0] ?? ''), source).toBe(path.join(srcDir, source));
      expect(map.sourcesContent).toBeUndefined();
    }
  });

  it('rewrites only changed outputs and removes those whose source is gone', async () => {
    const layout = await scratchLayout();
    await mkdir(path.join(layout.srcDir, 'room'));
    await writeFile(path.join(layout.srcDir, 'main.ts'), 'export const answer: number = 42;\n');
    await writeFile(path.join(layout.srcDir, 'room', 'moved.ts'), "export const where: string = 'here';\n");
    expect(await build(layout)).toMatchObject({ modules: 2, written: 4, removed: 0 });
    expect(await build(layout)).toMatchObject({ modules: 2, written: 0, removed: 0 });

    await rm(path.join(layout.srcDir, 'room'), { recursive: true });
    await writeFile(path.join(layout.srcDir, 'main.ts'), 'export const answer: number = 42;\nexport const more = 1;\n');
    expect(await build(layout)).toMatchObject({ modules: 1, written: 2, removed: 2 });
    expect(await filesUnder(layout.distDir)).toEqual(['main.js', 'main.js.map']);
    expect(existsSync(path.join(layout.distDir, 'room'))).toBe(false);
  });

  it('leaves dist/ as it was when a source does not compile', async () => {
    const layout = await scratchLayout();
    await writeFile(path.join(layout.srcDir, 'main.ts'), 'export const answer = 42;\n');
    await build(layout);
    const before = await readFile(path.join(layout.distDir, 'main.js'), 'utf8');

    await writeFile(path.join(layout.srcDir, 'main.ts'), 'export const answer = 43;\n');
    await writeFile(path.join(layout.srcDir, 'broken.ts'), 'export const = ;\n');
    await expect(build(layout)).rejects.toThrow(/broken\.ts/);
    expect(await readFile(path.join(layout.distDir, 'main.js'), 'utf8')).toBe(before);
    expect(await filesUnder(layout.distDir)).toEqual(['main.js', 'main.js.map']);
  });

  it('finds the migrations and the persisted-documents manifest from dist/ where the sources find them', () => {
    // Both are read by paths relative to the module reading them; dist/ mirrors src/, so the paths agree.
    const migrator = compiledEntry('src/db/migrator.ts').at(-1)!;
    const manifest = compiledEntry('src/cache/persisted-documents.ts').at(-1)!;
    const script = `const [m, p] = await Promise.all([import(${JSON.stringify(migrator)}), import(${JSON.stringify(manifest)})]);
      console.log(JSON.stringify([m.MIGRATIONS_DIR, p.PERSISTED_DOCUMENTS_FILE]));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual([MIGRATIONS_DIR, PERSISTED_DOCUMENTS_FILE]);
    expect(existsSync(MIGRATIONS_DIR) && existsSync(PERSISTED_DOCUMENTS_FILE)).toBe(true);
  });

  it('gives stack traces that name the TypeScript file and line', async () => {
    const layout = await scratchLayout();
    // Decorators and types shift the compiled lines away from the source ones.
    await writeFile(path.join(layout.distDir, '..', 'package.json'), '{ "type": "module" }\n');
    await writeFile(
      path.join(layout.srcDir, 'boom.ts'),
      [
        'const mark = (_target: object, _key: string): void => undefined;',
        'interface Shape { readonly sides: number }',
        'class Thrower {',
        '  @mark',
        '  throwNow(shape: Shape): never {',
        '    throw new Error(`boom at ${shape.sides}`);',
        '  }',
        '}',
        'new Thrower().throwNow({ sides: 3 });',
        '',
      ].join('\n'),
    );
    await build(layout);
    const run = spawnSync(process.execPath, ['--enable-source-maps', path.join(layout.distDir, 'boom.js')], {
      encoding: 'utf8',
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`${path.join(layout.srcDir, 'boom.ts')}:6`);
  });
});
