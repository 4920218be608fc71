import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

// docker-compose.yml as the deploy tests read it: parsed the way Compose parses it (anchors and `<<` merge keys
// resolved), with the helpers that turn its two ways of writing a setting into one.

const repoRootUrl = new URL('../../', import.meta.url);

export const readRepoFile = (path: string) => readFileSync(new URL(path, repoRootUrl), 'utf8');

export interface ComposeService {
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
  networks?: string[] | Record<string, { ipv4_address?: string } | null>;
  stop_grace_period?: string;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  networks?: Record<string, { ipam?: { config?: { subnet?: string }[] } }>;
}

/** Parses a compose file; `merge` because Compose honours YAML merge keys, and the file uses them. */
export function parseCompose(text: string): ComposeFile {
  return parse(text, { merge: true }) as ComposeFile;
}

export function serviceOf(compose: ComposeFile, name: string): ComposeService {
  const service = compose.services[name];
  if (!service) throw new Error(`docker-compose.yml has no service ${name}`);
  return service;
}

// Compose accepts both `KEY: value` maps and `- KEY=value` lists.
export function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, String(value)]));
  return Object.fromEntries(
    env.map((entry) => {
      const at = entry.indexOf('=');
      return [entry.slice(0, at), entry.slice(at + 1)];
    }),
  );
}

/**
 * A value as Compose would pass it with nothing set in the shell: `${NAME:-default}` and `${NAME-default}` become
 * the default, `${NAME}` empty. Anything else is refused, so that a form this does not know is noticed.
 */
export function interpolateUnset(value: string): string {
  const interpolated = value.replace(
    /\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}/g,
    (_match, fallback?: string) => fallback ?? '',
  );
  if (interpolated.replaceAll('$$', '').includes('$'))
    throw new Error(`a substitution this test does not read: ${value}`);
  return interpolated.replaceAll('$$', '$');
}

/** The `host:container` port pairs a service publishes. */
export function publishedPorts(service: ComposeService): string[] {
  return (service.ports ?? []).map((port) => (typeof port === 'string' ? port : `${port.published}:${port.target}`));
}

/** The networks a service joins, by name. */
export function networksOf(service: ComposeService): string[] {
  const networks = service.networks ?? ['default'];
  return Array.isArray(networks) ? networks : Object.keys(networks);
}

/** `30s` -> 30000; Compose durations as the file writes them (seconds or minutes). */
export function composeDurationMs(text: string | undefined): number {
  const match = /^(\d+)(s|m)$/.exec(text ?? '');
  if (!match) throw new Error(`not a duration this test reads: ${text}`);
  return Number(match[1]) * (match[2] === 'm' ? 60_000 : 1_000);
}
