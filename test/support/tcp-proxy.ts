import net from 'node:net';
import { freePort } from './child-processes.js';

// The outages of the fault tests are played by a TCP relay between the gateway and a real server (PostgreSQL,
// Redis, a Sentinel): the server itself is never touched, so other test files sharing it go on undisturbed.

/**
 * - `forward` relays bytes both ways;
 * - `stall` holds back the server's replies, on open connections and new ones alike, as a server that stopped
 *   answering would, and delivers them in order when forwarding resumes (TCP loses nothing);
 * - `blackhole` accepts new connections and never opens them to the server (a hung server that does not even
 *   read); connections opened before are stalled meanwhile.
 */
export type ProxyMode = 'forward' | 'stall' | 'blackhole';

export interface ProxyTarget {
  host: string;
  port: number;
}

const DEFAULT_PORTS: Record<string, number> = {
  'postgres:': 5432,
  'postgresql:': 5432,
  'redis:': 6379,
  'rediss:': 6379,
};

/**
 * A TCP relay on 127.0.0.1 in front of a real server, which a test switches between modes (`setMode`), cuts
 * (`stop()` closes the port and every connection, as a crashed or restarted server would) and brings back on
 * the same port (`start()` again), so that one client sees its server go away and come back.
 */
export class TcpProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly held = new Map<net.Socket, Buffer[]>();
  private readonly target: ProxyTarget;
  private mode: ProxyMode = 'forward';
  port = 0;

  /** `target`: the server's address, or a URL of it (postgres://, redis://; the scheme's port when none is given). */
  constructor(private readonly targetOrUrl: ProxyTarget | string) {
    if (typeof targetOrUrl === 'string') {
      const url = new URL(targetOrUrl);
      const port = url.port ? Number(url.port) : DEFAULT_PORTS[url.protocol];
      if (port === undefined) throw new Error(`no port in ${url.protocol}// URL and none known for the scheme`);
      this.target = { host: url.hostname, port };
    } else {
      this.target = targetOrUrl;
    }
  }

  /**
   * The URL a client connects through: the target's URL (credentials, database and options kept) with the
   * relay's host and port; for a target given by address, a redis:// URL of the relay.
   */
  get url(): string {
    if (this.port === 0) throw new Error('the relay has not started');
    if (typeof this.targetOrUrl !== 'string') return `redis://127.0.0.1:${this.port}`;
    const url = new URL(this.targetOrUrl);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString();
  }

  /** Listens (on the port of an earlier start, if any) in `mode`. */
  async start(mode: ProxyMode = 'forward'): Promise<void> {
    this.setMode(mode);
    const server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: this.port, host: '127.0.0.1' }, () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Switches an open relay between modes; back to forwarding, held replies are delivered in order. */
  setMode(mode: ProxyMode): void {
    this.mode = mode;
    if (mode === 'forward') {
      for (const [client, chunks] of this.held) {
        for (const chunk of chunks) client.write(chunk);
        chunks.length = 0;
      }
    }
  }

  /** Stops listening and cuts every open connection. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.held.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(client: net.Socket) {
    this.track(client);
    if (this.mode === 'blackhole') return;
    const upstream = net.connect(this.target);
    const held: Buffer[] = [];
    this.held.set(client, held);
    this.track(upstream);
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      if (this.mode === 'forward') client.write(chunk);
      else held.push(chunk);
    });
    upstream.on('close', () => client.destroy());
    client.on('close', () => {
      upstream.destroy();
      this.held.delete(client);
    });
  }

  private track(socket: net.Socket) {
    this.sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
  }
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago): a server that is down from the start. */
export const closedPort = freePort;
