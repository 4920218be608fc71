// deploy/haproxy.cfg read as HAProxy reads it, for the deploy tests: sections and their settings, durations in
// HAProxy's units, and the one rewrite the process test makes (where it listens and where the gateways are).

const SECTION_KEYWORDS = new Set([
  'global',
  'defaults',
  'frontend',
  'backend',
  'listen',
  'resolvers',
  'peers',
  'userlist',
  'program',
  'http-errors',
  'ring',
  'cache',
]);

export interface HaproxySection {
  kind: string;
  name: string;
  /** The section's settings, one per line, comments and surrounding blanks dropped. */
  lines: string[];
}

function withoutComment(line: string): string {
  const at = line.search(/(^|\s)#/);
  return (at === -1 ? line : line.slice(0, at)).trim();
}

export function parseHaproxyConfig(text: string): HaproxySection[] {
  const sections: HaproxySection[] = [];
  for (const raw of text.split('\n')) {
    const line = withoutComment(raw);
    if (!line) continue;
    const [keyword = '', name = ''] = line.split(/\s+/);
    if (SECTION_KEYWORDS.has(keyword) && !/^\s/.test(raw)) {
      sections.push({ kind: keyword, name, lines: [] });
      continue;
    }
    const current = sections.at(-1);
    if (!current) throw new Error(`a setting before any section: ${line}`);
    current.lines.push(line.replace(/\s+/g, ' '));
  }
  return sections;
}

export function sectionOf(sections: HaproxySection[], kind: string, name = ''): HaproxySection {
  const found = sections.filter((section) => section.kind === kind && (name === '' || section.name === name));
  if (found.length !== 1) throw new Error(`deploy/haproxy.cfg has ${found.length} sections "${kind} ${name}"`);
  return found[0]!;
}

/** What follows `keyword` on each of the section's lines that start with it (`timeout tunnel` -> ['1m']). */
export function settingsOf(section: HaproxySection, keyword: string): string[] {
  return section.lines
    .filter((line) => line === keyword || line.startsWith(`${keyword} `))
    .map((line) => line.slice(keyword.length).trim());
}

/** The value of a setting where HAProxy takes it from: the proxy's own, else the defaults section's. */
export function effectiveSetting(
  sections: HaproxySection[],
  proxy: HaproxySection,
  keyword: string,
): string | undefined {
  return settingsOf(proxy, keyword).at(-1) ?? settingsOf(sectionOf(sections, 'defaults'), keyword).at(-1);
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A HAProxy time (`2s`, `1m`, `500`: milliseconds when no unit is given) in milliseconds. */
export function haproxyDurationMs(text: string | undefined): number {
  const match = /^(\d+)(us|ms|s|m|h|d)?$/.exec(text ?? '');
  if (!match) throw new Error(`not a HAProxy time: ${text}`);
  return Number(match[1]) * UNIT_MS[match[2] ?? 'ms']!;
}

/** `name address [settings...]` of each `server` line of a backend. */
export function serversOf(backend: HaproxySection): { name: string; address: string; settings: string[] }[] {
  return settingsOf(backend, 'server').map((rest) => {
    const [name = '', address = '', ...settings] = rest.split(' ');
    return { name, address, settings };
  });
}

/**
 * The configuration with the frontend bound to `bind` and each named server at another address, nothing else
 * changed. Fails when the file does not have exactly one bind and every named server, so that a test never
 * runs a configuration other than the one it means to.
 */
export function relocate(text: string, bind: string, servers: Record<string, string>): string {
  let binds = 0;
  const moved = new Set<string>();
  const lines = text.split('\n').map((line) => {
    const bindLine = /^(\s*bind\s+)\S+(.*)$/.exec(line);
    if (bindLine) {
      binds += 1;
      return `${bindLine[1]}${bind}${bindLine[2]}`;
    }
    const serverLine = /^(\s*server\s+(\S+)\s+)\S+(.*)$/.exec(line);
    const address = serverLine && servers[serverLine[2]!];
    if (serverLine && address) {
      moved.add(serverLine[2]!);
      return `${serverLine[1]}${address}${serverLine[3]}`;
    }
    return line;
  });
  if (binds !== 1) throw new Error(`expected one bind line, found ${binds}`);
  const missing = Object.keys(servers).filter((name) => !moved.has(name));
  if (missing.length > 0) throw new Error(`no server line for ${missing.join(', ')}`);
  return lines.join('\n');
}
