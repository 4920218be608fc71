import net from 'node:net';

export type ProxyMode = 'forward' | 'stall';

/**
 * A TCP relay on 127.0.0.1 in front of a real server (here Redis), which a test switches between states
 * without touching the server itself:
 * - `forward` relays bytes both ways;
 * - `stall` holds back the server's replies, on open connections and new ones alike, as a server that
 *   stopped answering would, and delivers them in order when forwarding resumes (TCP loses nothing);
 * - `stop()` closes the port and cuts every connection, as a crashed or restarted server would.
 */
export class TcpProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly held = new Map<net.Socket, Buffer[]>();
  private mode: ProxyMode = 'forward';
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(mode: ProxyMode = 'forward'): Promise<void> {
    this.mode = mode;
    const server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: this.port, host: '127.0.0.1' }, () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Switches an open relay between forwarding and stalling. */
  setMode(mode: ProxyMode): void {
    this.mode = mode;
    if (mode === 'forward') {
      for (const [client, chunks] of this.held) {
        for (const chunk of chunks) client.write(chunk);
        chunks.length = 0;
      }
    }
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.held.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(client: net.Socket) {
    const upstream = net.connect(this.target);
    const held: Buffer[] = [];
    this.held.set(client, held);
    this.track(client);
    this.track(upstream);
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      if (this.mode === 'stall') held.push(chunk);
      else client.write(chunk);
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

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
