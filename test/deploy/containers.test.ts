import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_CURSOR_SECRET } from '../../src/config/config.js';
import {
  composeDurationMs,
  environmentOf,
  interpolateUnset,
  networksOf,
  parseCompose,
  publishedPorts,
  readRepoFile,
  serviceOf,
  type ComposeService,
} from './compose-file.js';
import {
  effectiveSetting,
  haproxyDurationMs,
  parseHaproxyConfig,
  sectionOf,
  serversOf,
  settingsOf,
} from './haproxy-config.js';

// The image and the stack checked as text, wherever the suite runs and in a blink: enough to catch a renamed
// folder, a dropped healthcheck or a broken start order before anyone builds. test/deploy/image.test.ts builds and
// runs the image, and has docker-compose validate the stack, where a Docker engine answers;
// test/deploy/load-balancer.test.ts runs deploy/haproxy.cfg in front of two gateway processes.

const existsInRepo = (path: string) => existsSync(new URL(path, new URL('../../', import.meta.url)));

const compose = parseCompose(readRepoFile('docker-compose.yml'));
const services = compose.services;
const serviceNamed = (name: string) => serviceOf(compose, name);

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
  const start = instructions.findIndex(
    (i) => i.keyword === 'FROM' && new RegExp(`\\bAS\\s+${name}$`, 'i').test(i.args),
  );
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
  it('defines the postgres, redis, migrate, seed and gateway services, prometheus and the scaled pair behind profiles', () => {
    const always = Object.entries(services).filter(([, service]) => !service.profiles?.length);
    expect(always.map(([name]) => name).sort()).toEqual(['gateway', 'migrate', 'postgres', 'redis', 'seed']);
    expect(serviceNamed('prometheus').profiles).toEqual(['monitoring']);
    const scaled = Object.entries(services).filter(([, service]) => service.profiles?.includes('scaled'));
    expect(scaled.map(([name]) => name).sort()).toEqual(['gateway-1', 'gateway-2', 'loadbalancer']);
    for (const [name, service] of scaled) expect(service.profiles, name).toEqual(['scaled']);
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
    expect(publishedPorts(serviceNamed('gateway'))).toContain('4000:4000');
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
    expect(environmentOf(serviceNamed('migrate')).REPORT_TIMEZONE).toBe(
      environmentOf(serviceNamed('gateway')).REPORT_TIMEZONE,
    );
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
    expect(longRunning.map(([name]) => name).sort()).toEqual([
      'gateway',
      'gateway-1',
      'gateway-2',
      'loadbalancer',
      'postgres',
      'prometheus',
      'redis',
    ]);
    for (const [name, service] of longRunning) {
      expect(service.healthcheck?.disable, name).not.toBe(true);
      expect(healthcheckText(service), name).not.toBe('');
    }
  });

  it('checks gateway health through /healthz and readiness through /readyz', () => {
    expect(healthcheckText(serviceNamed('gateway'))).toContain('/healthz');
    expect(healthcheckText(serviceNamed('gateway'))).toContain('/readyz');
  });

  it('gives every gateway longer to stop than its own shutdown grace period', () => {
    for (const name of ['gateway', 'gateway-1', 'gateway-2']) {
      const gateway = serviceNamed(name);
      const graceMs = Number(environmentOf(gateway).SHUTDOWN_GRACE_MS);
      expect(graceMs, name).toBeGreaterThan(0);
      expect(composeDurationMs(gateway.stop_grace_period), name).toBeGreaterThan(graceMs);
    }
  });
});

describe('docker-compose.yml, the scaled profile', () => {
  const scaledGateways = ['gateway-1', 'gateway-2'] as const;
  const env = (name: string) => environmentOf(serviceNamed(name));
  const loadBalancer = serviceNamed('loadbalancer');
  const balancerNetworks = loadBalancer.networks as Record<string, { ipv4_address?: string } | null>;

  it('runs two gateways of one definition, from the image the default gateway runs', () => {
    const [one, two] = scaledGateways.map(serviceNamed);
    expect(two).toEqual(one);
    expect(one!.image).toBe(serviceNamed('gateway').image);
    expect(one!.build).toBe('.');
  });

  it("gives both gateways the default gateway's database, Redis and report zone", () => {
    for (const name of scaledGateways) {
      for (const variable of ['DATABASE_URL', 'REDIS_URL', 'REPORT_TIMEZONE', 'NODE_ENV', 'AUTH_MODE', 'JWT_SECRET']) {
        expect(env(name)[variable], `${name} ${variable}`).toBe(env('gateway')[variable]);
      }
    }
  });

  it('signs cursors with one CURSOR_SECRET on both, from the environment, and with a default the gateways warn about', () => {
    const secrets = scaledGateways.map((name) => env(name).CURSOR_SECRET);
    expect(secrets[0]).toMatch(/^\$\{CURSOR_SECRET:-[^}]+\}$/);
    expect(secrets[1]).toBe(secrets[0]);
    // Left unset, both run with the built-in secret, which a production gateway calls out at start.
    expect(interpolateUnset(secrets[0]!)).toBe(DEFAULT_CURSOR_SECRET);
  });

  it('starts the gateways once the stores are healthy and migrate and seed have completed, as the default gateway', () => {
    for (const name of scaledGateways)
      expect(dependencyConditions(serviceNamed(name))).toEqual(dependencyConditions(serviceNamed('gateway')));
  });

  it("trusts forwarded headers from the load balancer's fixed address only", () => {
    const address = balancerNetworks.balancer?.ipv4_address;
    expect(address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    for (const name of scaledGateways) expect(env(name).TRUST_PROXY, name).toBe(address);
    // The default gateway has no proxy in front of it.
    expect(env('gateway').TRUST_PROXY).toBeUndefined();
  });

  it('puts the load balancer on a network of its own with the scaled gateways, at an address of its subnet', () => {
    expect(networksOf(loadBalancer)).toEqual(['balancer']);
    for (const name of scaledGateways)
      expect(networksOf(serviceNamed(name)).sort(), name).toEqual(['balancer', 'default']);
    const on = Object.entries(services).filter(([, service]) => networksOf(service).includes('balancer'));
    expect(on.map(([name]) => name).sort()).toEqual(['gateway-1', 'gateway-2', 'loadbalancer']);
    const subnet = compose.networks?.balancer?.ipam?.config?.[0]?.subnet ?? '';
    const [base = '', bits = '32'] = subnet.split('/');
    const toNumber = (ip: string) => ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
    const mask = Number(bits) === 0 ? 0 : (0xffffffff << (32 - Number(bits))) >>> 0;
    const address = balancerNetworks.balancer?.ipv4_address ?? '';
    expect((toNumber(address) & mask) >>> 0 === (toNumber(base) & mask) >>> 0, `${address} in ${subnet}`).toBe(true);
  });

  it('publishes the load balancer on 8080 and no scaled gateway, leaving 4000 to the default gateway', () => {
    expect(publishedPorts(loadBalancer)).toEqual(['8080:8080']);
    for (const name of scaledGateways) expect(publishedPorts(serviceNamed(name)), name).toEqual([]);
    expect(publishedPorts(serviceNamed('gateway'))).toEqual(['4000:4000']);
  });

  it('runs HAProxy with deploy/haproxy.cfg mounted read-only, after both gateways, checking its own /healthz', () => {
    expect(loadBalancer.image).toMatch(/^haproxy:\d+\.\d+-alpine$/);
    expect(loadBalancer.volumes).toEqual(['./deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro']);
    expect(dependencyConditions(loadBalancer)).toEqual({
      'gateway-1': 'service_started',
      'gateway-2': 'service_started',
    });
    expect(healthcheckText(loadBalancer)).toContain('http://127.0.0.1:8080/healthz');
  });

  it('keeps the delay, the longest request and the grace period of a scaled gateway inside one another', () => {
    for (const name of scaledGateways) {
      const { SHUTDOWN_DELAY_MS, SHUTDOWN_GRACE_MS, PG_STATEMENT_TIMEOUT_MS } = env(name);
      expect(Number(SHUTDOWN_DELAY_MS) + Number(PG_STATEMENT_TIMEOUT_MS), name).toBeLessThan(Number(SHUTDOWN_GRACE_MS));
    }
  });
});

describe('deploy/haproxy.cfg', () => {
  const sections = parseHaproxyConfig(readRepoFile('deploy/haproxy.cfg'));
  const frontend = sectionOf(sections, 'frontend');
  const backend = sectionOf(sections, 'backend', 'gateways');
  const timeoutMs = (proxy: typeof frontend, name: string) =>
    haproxyDurationMs(effectiveSetting(sections, proxy, `timeout ${name}`));
  // The scaled gateways run one definition, so either one's settings are both's.
  const gateway = environmentOf(serviceNamed('gateway-1'));
  const gatewayMs = (name: string) => {
    const value = Number(gateway[name]);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`docker-compose.yml sets no ${name} on gateway-1`);
    return value;
  };

  it('sends every request to the gateways backend, in HTTP mode, listening on the port compose publishes', () => {
    expect(settingsOf(frontend, 'bind')).toEqual([':8080']);
    expect(settingsOf(frontend, 'default_backend')).toEqual(['gateways']);
    expect(effectiveSetting(sections, backend, 'mode')).toBe('http');
    expect(settingsOf(frontend, 'use_backend')).toEqual([]);
  });

  it('balances over both scaled gateways by their compose names, on the port they listen on', () => {
    expect(serversOf(backend).map((server) => `${server.name} ${server.address}`)).toEqual([
      'gateway-1 gateway-1:4000',
      'gateway-2 gateway-2:4000',
    ]);
  });

  it('checks every gateway actively on /readyz and takes only a 200 as ready', () => {
    expect(settingsOf(backend, 'option httpchk')).toEqual(['GET /readyz']);
    expect(settingsOf(backend, 'http-check expect')).toEqual(['status 200']);
    const defaults = settingsOf(backend, 'default-server').join(' ').split(' ');
    expect(defaults).toContain('check');
    for (const server of serversOf(backend)) expect(server.settings).not.toContain('no-check');
  });

  it('takes a stopping gateway out of rotation within its SHUTDOWN_DELAY_MS', () => {
    const words = settingsOf(backend, 'default-server').join(' ').split(' ');
    const after = (word: string) => words[words.indexOf(word) + 1];
    const inter = haproxyDurationMs(after('inter'));
    const fall = Number(after('fall'));
    expect(fall).toBeGreaterThanOrEqual(1);
    // The first check to see the 503 starts at most `inter` after the signal, and `fall` of them take it out.
    expect(inter * fall).toBeLessThan(gatewayMs('SHUTDOWN_DELAY_MS'));
    // A check outlasting the gateway's own database probe would mark a slow but ready gateway down.
    expect(timeoutMs(backend, 'check')).toBeGreaterThan(Number(gateway.HEALTH_TIMEOUT_MS ?? 2_000));
  });

  it("keeps a WebSocket open through more than one of the gateways' keepalive periods", () => {
    // The gateway cuts a socket that has not answered by the next ping; the balancer is at least as patient.
    expect(timeoutMs(backend, 'tunnel')).toBeGreaterThanOrEqual(2 * gatewayMs('SUBSCRIPTION_KEEPALIVE_MS'));
  });

  it('waits for the slowest answer a gateway gives, and cuts a slow client no later than the gateway would', () => {
    expect(timeoutMs(backend, 'server')).toBeGreaterThan(
      gatewayMs('PG_STATEMENT_TIMEOUT_MS') + gatewayMs('PG_CONNECT_TIMEOUT_MS'),
    );
    expect(timeoutMs(frontend, 'client')).toBeGreaterThanOrEqual(timeoutMs(backend, 'server'));
    expect(timeoutMs(frontend, 'http-request')).toBeLessThanOrEqual(gatewayMs('REQUEST_READ_TIMEOUT_MS'));
  });

  it('refuses a declared body larger than the gateways take, with 413', () => {
    const rules = settingsOf(frontend, 'http-request deny').filter((rule) => rule.includes('deny_status 413'));
    expect(rules).toHaveLength(1);
    const limit = Number(/req\.hdr_val\(content-length\) gt (\d+)/.exec(rules[0]!)?.[1]);
    expect(limit).toBeGreaterThan(0);
    expect(limit).toBeLessThanOrEqual(gatewayMs('BODY_LIMIT_BYTES'));
  });

  it("replaces the client's X-Forwarded-For with its address, and sets X-Forwarded-Proto and -Host", () => {
    const lines = frontend.lines;
    const dropped = lines.indexOf('http-request del-header X-Forwarded-For');
    expect(dropped).toBeGreaterThanOrEqual(0);
    expect(lines).toContain('option forwardfor');
    expect(settingsOf(frontend, 'http-request set-header X-Forwarded-Proto')).toHaveLength(1);
    expect(settingsOf(frontend, 'http-request set-header X-Forwarded-Host')).toEqual(['%[req.hdr(host)]']);
  });

  it('answers /healthz itself and keeps /metrics away from the public port', () => {
    expect(settingsOf(frontend, 'monitor-uri')).toEqual(['/healthz']);
    expect(settingsOf(frontend, 'http-request deny').some((rule) => rule.includes('/metrics'))).toBe(true);
  });

  it("finds recreated gateway containers again through Docker's DNS", () => {
    expect(settingsOf(sectionOf(sections, 'resolvers', 'docker'), 'nameserver')).toEqual(['dns 127.0.0.11:53']);
    expect(settingsOf(backend, 'default-server').join(' ')).toContain('resolvers docker');
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
    for (const tool of ['tsx', 'typescript', '@swc/core', 'vitest'])
      expect(pkg.dependencies, tool).not.toHaveProperty(tool);
  });

  it('uses the npm the base image ships', () => {
    expect(instructions.filter((i) => i.keyword === 'RUN' && /npm (i|install) .*(-g|--global)/.test(i.args))).toEqual(
      [],
    );
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
    const hidden = copiedSources.filter((source) =>
      ignored.includes(source.replace(/^\.\/|\/$/g, '').split('/')[0] ?? ''),
    );
    expect(hidden).toEqual([]);
  });

  it('starts the compiled form of a source file the build stage copies', () => {
    const source = sourceOfCompiled(finalCommand);
    expect(source).toBe('src/main.ts');
    expect(
      stageNamed('build')
        .filter((i) => i.keyword === 'COPY')
        .flatMap(contextSources),
    ).toContain('src');
    expect(existsInRepo(source ?? ''), `${source} exists`).toBe(true);
  });
});
