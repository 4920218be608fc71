import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

// The image and the stack checked as text, wherever the suite runs and in a blink: enough to catch a renamed
// folder, a dropped healthcheck or a broken start order before anyone builds. test/deploy/image.test.ts builds and
// runs the image, and has docker-compose validate the stack, where a Docker engine answers.

const repoRootUrl = new URL('../../', import.meta.url);
const readRepoFile = (path: string) => readFileSync(new URL(path, repoRootUrl), 'utf8');
const existsInRepo = (path: string) => existsSync(new URL(path, repoRootUrl));

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string> | string[];
  ports?: (string | { target: number; published: number | string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  restart?: string;
  profiles?: string[];
  volumes?: string[];
  stop_grace_period?: string;
}

const compose = parse(readRepoFile('docker-compose.yml')) as { services: Record<string, ComposeService> };
const services = compose.services;

function serviceNamed(name: string): ComposeService {
  const service = services[name];
  if (!service) throw new Error(`docker-compose.yml has no service ${name}`);
  return service;
}

// Compose accepts both `KEY: value` maps and `- KEY=value` lists.
function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) return env;
  return Object.fromEntries(
    env.map((entry) => {
      const at = entry.indexOf('=');
      return [entry.slice(0, at), entry.slice(at + 1)];
    }),
  );
}

function dependencyConditions(service: ComposeService): Record<string, string> {
  const deps = service.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((name) => [name, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([name, dep]) => [name, dep.condition ?? 'service_started']));
}

const healthcheckText = (service: ComposeService) => {
  const test = service.healthcheck?.test;
  return Array.isArray(test) ? test.join(' ') : (test ?? '');
};

interface Instruction {
  keyword: string;
  args: string;
}

// Logical lines of a Dockerfile: comments dropped, backslash continuations joined.
function instructionsOf(dockerfile: string): Instruction[] {
  const logical = dockerfile
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return logical.map((line) => {
    const [keyword = '', ...rest] = line.split(/\s+/);
    return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
  });
}

// The sources of a COPY from the build context; COPY --from=<stage> reads another stage instead.
function contextSources(copy: Instruction): string[] {
  const words = copy.args.startsWith('[') ? (JSON.parse(copy.args) as string[]) : copy.args.split(/\s+/);
  if (words.some((word) => word.startsWith('--from='))) return [];
  const paths = words.filter((word) => !word.startsWith('--'));
  return paths.slice(0, -1);
}

const instructions = instructionsOf(readRepoFile('Dockerfile'));
const lastFrom = instructions.map((i) => i.keyword).lastIndexOf('FROM');
const finalStage = instructions.slice(lastFrom + 1);
const finalStageArgs = (keyword: string) => finalStage.filter((i) => i.keyword === keyword).map((i) => i.args);
const finalCommand = JSON.parse(finalStageArgs('CMD').at(-1) ?? '[]') as string[];
const copiedSources = instructions.filter((i) => i.keyword === 'COPY').flatMap(contextSources);

// The instructions of the stage named `name` (`FROM ... AS name`).
function stageNamed(name: string): Instruction[] {
  const start = instructions.findIndex((i) => i.keyword === 'FROM' && new RegExp(`\\bAS\\s+${name}$`, 'i').test(i.args));
  if (start === -1) throw new Error(`the Dockerfile has no stage ${name}`);
  const end = instructions.findIndex((i, at) => at > start && i.keyword === 'FROM');
  return instructions.slice(start + 1, end === -1 ? undefined : end);
}

// `node [flags] dist/x/y.js` compiled from src/x/y.ts: the source it comes from, so that a moved file is noticed.
function sourceOfCompiled(command: string[] | undefined): string | undefined {
  const entry = command?.find((arg) => arg.startsWith('dist/'));
  return entry && `src/${entry.slice('dist/'.length).replace(/\.js$/, '.ts')}`;
}

describe('docker-compose.yml', () => {
  it('defines the postgres, redis, migrate, seed and gateway services, and prometheus behind a profile', () => {
    const always = Object.entries(services).filter(([, service]) => !service.profiles?.length);
    expect(always.map(([name]) => name).sort()).toEqual(['gateway', 'migrate', 'postgres', 'redis', 'seed']);
    expect(serviceNamed('prometheus').profiles).toEqual(['monitoring']);
  });

  it('has Prometheus scrape the gateway /metrics with the committed example configuration', () => {
    const prometheus = serviceNamed('prometheus');
    expect(prometheus.volumes).toContain('./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro');
    const config = parse(readRepoFile('deploy/prometheus.yml')) as {
      scrape_configs: { metrics_path: string; static_configs: { targets: string[] }[] }[];
    };
    expect(config.scrape_configs[0]?.metrics_path).toBe('/metrics');
    expect(config.scrape_configs[0]?.static_configs[0]?.targets).toEqual(['gateway:4000']);
  });

  it('runs PostgreSQL 16 and Redis 7', () => {
    expect(serviceNamed('postgres').image).toMatch(/^postgres:16(\b|-)/);
    expect(serviceNamed('redis').image).toMatch(/^redis:7(\b|-)/);
  });

  it('builds migrate, seed and gateway from the repository Dockerfile', () => {
    for (const name of ['migrate', 'seed', 'gateway']) expect(serviceNamed(name).build, name).toBe('.');
  });

  it('publishes the gateway on port 4000', () => {
    const ports = (serviceNamed('gateway').ports ?? []).map((port) =>
      typeof port === 'string' ? port : `${port.published}:${port.target}`,
    );
    expect(ports).toContain('4000:4000');
  });

  it('points the gateway at the postgres and redis services in production mode', () => {
    const env = environmentOf(serviceNamed('gateway'));
    expect(new URL(env.DATABASE_URL ?? '').hostname).toBe('postgres');
    expect(new URL(env.REDIS_URL ?? '').hostname).toBe('redis');
    expect(env.NODE_ENV).toBe('production');
    expect(env.REPORT_TIMEZONE).toBe('${REPORT_TIMEZONE:-UTC}');
  });

  it('migrates and seeds the same database the gateway reads', () => {
    const gatewayUrl = environmentOf(serviceNamed('gateway')).DATABASE_URL;
    expect(environmentOf(serviceNamed('migrate')).DATABASE_URL).toBe(gatewayUrl);
    expect(environmentOf(serviceNamed('seed')).DATABASE_URL).toBe(gatewayUrl);
  });

  it('builds a fresh database in the report zone the gateway runs in', () => {
    expect(environmentOf(serviceNamed('migrate')).REPORT_TIMEZONE).toBe(environmentOf(serviceNamed('gateway')).REPORT_TIMEZONE);
  });

  it('starts the gateway only after healthy stores and a completed migrate and seed', () => {
    expect(dependencyConditions(serviceNamed('gateway'))).toEqual({
      postgres: 'service_healthy',
      redis: 'service_healthy',
      migrate: 'service_completed_successfully',
      seed: 'service_completed_successfully',
    });
  });

  it('migrates once PostgreSQL is healthy and seeds once migrations have completed', () => {
    expect(dependencyConditions(serviceNamed('migrate'))).toEqual({ postgres: 'service_healthy' });
    expect(dependencyConditions(serviceNamed('seed'))).toEqual({ migrate: 'service_completed_successfully' });
  });

  it('runs migrate and seed as one-shot jobs with the compiled commands, node itself and no npm', () => {
    const migrate = serviceNamed('migrate');
    const seed = serviceNamed('seed');
    expect(sourceOfCompiled(migrate.command)).toBe('src/cli/migrate.ts');
    expect(sourceOfCompiled(seed.command)).toBe('src/cli/seed.ts');
    expect(seed.command).toContain('--if-empty');
    for (const job of [migrate, seed]) {
      expect(job.command?.[0]).toBe('node');
      expect(existsInRepo(sourceOfCompiled(job.command) ?? '')).toBe(true);
      expect(job.restart ?? 'no').toBe('no');
    }
  });

  it('gives every long-running service a healthcheck', () => {
    const longRunning = Object.entries(services).filter(([, service]) => (service.restart ?? 'no') !== 'no');
    expect(longRunning.map(([name]) => name).sort()).toEqual(['gateway', 'postgres', 'prometheus', 'redis']);
    for (const [name, service] of longRunning) {
      expect(service.healthcheck?.disable, name).not.toBe(true);
      expect(healthcheckText(service), name).not.toBe('');
    }
  });

  it('checks gateway health through /healthz and readiness through /readyz', () => {
    expect(healthcheckText(serviceNamed('gateway'))).toContain('/healthz');
    expect(healthcheckText(serviceNamed('gateway'))).toContain('/readyz');
  });

  it('gives the gateway longer to stop than its own shutdown grace period', () => {
    const gateway = serviceNamed('gateway');
    const graceMs = Number(environmentOf(gateway).SHUTDOWN_GRACE_MS);
    expect(graceMs).toBeGreaterThan(0);
    expect(Number(/^(\d+)s$/.exec(gateway.stop_grace_period ?? '')?.[1]) * 1000).toBeGreaterThan(graceMs);
  });
});

describe('Dockerfile', () => {
  it('builds in at least two stages', () => {
    expect(instructions.filter((i) => i.keyword === 'FROM').length).toBeGreaterThanOrEqual(2);
  });

  it('installs production dependencies only, with npm ci', () => {
    expect(instructions.some((i) => i.keyword === 'RUN' && i.args.includes('npm ci --omit=dev'))).toBe(true);
  });

  it('compiles in a build stage with the project build, and runs the compiled output with node itself', () => {
    expect(stageNamed('build').some((i) => i.keyword === 'RUN' && i.args === 'npm run build')).toBe(true);
    expect(finalStageArgs('COPY')).toContain('--from=build /app/dist ./dist');
    expect(finalCommand[0]).toBe('node');
    expect(finalCommand).not.toContain('tsx');
    expect(finalCommand.at(-1)).toBe('dist/main.js');
  });

  it('keeps build tools out of the production dependencies', () => {
    const pkg = JSON.parse(readRepoFile('package.json')) as { dependencies: Record<string, string> };
    for (const tool of ['tsx', 'typescript', '@swc/core', 'vitest']) expect(pkg.dependencies, tool).not.toHaveProperty(tool);
  });

  it('uses the npm the base image ships', () => {
    expect(instructions.filter((i) => i.keyword === 'RUN' && /npm (i|install) .*(-g|--global)/.test(i.args))).toEqual([]);
  });

  it('runs the final stage as a non-root user', () => {
    const user = finalStageArgs('USER').at(-1);
    expect(user).toBeDefined();
    expect(user?.split(':')[0]).not.toMatch(/^(root|0)$/);
  });

  it('exposes port 4000 and checks health through /healthz', () => {
    expect(finalStageArgs('EXPOSE')).toContain('4000');
    expect(finalStageArgs('HEALTHCHECK').join(' ')).toContain('/healthz');
  });

  it('copies only paths that exist in the repository', () => {
    expect(copiedSources.length).toBeGreaterThan(0);
    expect(copiedSources.filter((source) => !existsInRepo(source))).toEqual([]);
  });

  it('keeps every copied path out of .dockerignore', () => {
    const ignored = readRepoFile('.dockerignore')
      .split('\n')
      .map((line) => line.trim().replace(/^\/|\/$/g, ''))
      .filter((line) => line && !line.startsWith('#'));
    const hidden = copiedSources.filter((source) => ignored.includes(source.replace(/^\.\/|\/$/g, '').split('/')[0] ?? ''));
    expect(hidden).toEqual([]);
  });

  it('starts the compiled form of a source file the build stage copies', () => {
    const source = sourceOfCompiled(finalCommand);
    expect(source).toBe('src/main.ts');
    expect(stageNamed('build').filter((i) => i.keyword === 'COPY').flatMap(contextSources)).toContain('src');
    expect(existsInRepo(source ?? ''), `${source} exists`).toBe(true);
  });
});
