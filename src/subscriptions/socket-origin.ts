import type { FastifyRequest } from 'fastify';

// Browsers send `Origin` on every WebSocket handshake and, unlike for fetch, enforce nothing themselves: any page
// may open a socket to any host, with that host's cookies and with whatever it can reach (AUTH_MODE=none is
// everything). So the gateway decides, before the upgrade, from the same allow list as CORS.

// A page is served over http(s); a proxy may report the socket's own scheme instead.
const PAGE_SCHEME: Readonly<Record<string, string>> = { http: 'http', https: 'https', ws: 'http', wss: 'https' };

// What a Host (or X-Forwarded-Host) header may hold: a name or an address, and a port.
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** `scheme://host[:port]` of an absolute URL, normalised as browsers send it; undefined for anything else (`null`). */
function originOf(text: string): string | undefined {
  try {
    const origin = new URL(text).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

/**
 * The origin of the gateway's own pages, as this request reached it: its scheme and Host, or, behind a proxy
 * trusted by TRUST_PROXY, X-Forwarded-Proto and X-Forwarded-Host (Fastify applies TRUST_PROXY to both).
 */
function ownOrigin(request: FastifyRequest): string | undefined {
  const scheme = PAGE_SCHEME[(request.protocol ?? '').toLowerCase()];
  const host = request.host;
  if (!scheme || !HOST.test(host)) return undefined;
  return originOf(`${scheme}://${host}`);
}

/**
 * Whether a WebSocket upgrade may go ahead: a client that sends no `Origin` is not a browser page (services,
 * scripts) and is accepted; a page is accepted from the gateway's own origin or one of `allowed` (CORS_ORIGINS).
 */
export function socketOriginAllowed(request: FastifyRequest, allowed: ReadonlySet<string>): boolean {
  const sent = request.headers.origin;
  if (sent === undefined) return true;
  const origin = originOf(sent);
  if (origin === undefined) return false;
  return allowed.has(origin) || origin === ownOrigin(request);
}
