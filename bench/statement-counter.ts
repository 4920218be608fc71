import net from 'node:net';

// Counts the SQL statements a process sends to PostgreSQL by sitting between the two as a TCP proxy and
// reading the frontend side of the wire protocol. This needs nothing from the server (pg_stat_statements
// is rarely preloaded) and nothing from the gateway's internals, so it keeps working however the
// gateway's database layer changes. A statement is a simple Query ('Q') or an extended-protocol Execute
// ('E'); the latter is sent once per statement whether or not its Parse was cached. Plain TCP only: a
// client that negotiates TLS would be opaque here (the benchmark talks to 127.0.0.1 without TLS).

const SSL_REQUEST = 80_877_103;
const GSSENC_REQUEST = 80_877_104;

/** Splits a client's byte stream into protocol messages and reports each message's type byte. */
class FrontendMessageReader {
  // Before the StartupMessage, messages have no type byte: an SSLRequest or GSSENCRequest may come first.
  private untyped = true;
  private skip = 0;
  private header = Buffer.alloc(0);

  constructor(private readonly onMessage: (type: string) => void) {}

  feed(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - offset);
        this.skip -= n;
        offset += n;
        continue;
      }
      const need = this.untyped ? 8 : 5;
      const take = Math.min(need - this.header.length, chunk.length - offset);
      this.header = Buffer.concat([this.header, chunk.subarray(offset, offset + take)]);
      offset += take;
      if (this.header.length < need) return;
      if (this.untyped) {
        const length = this.header.readInt32BE(0);
        const code = this.header.readInt32BE(4);
        if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) this.untyped = false;
        this.skip = length - 8;
      } else {
        this.onMessage(String.fromCharCode(this.header[0]!));
        this.skip = this.header.readInt32BE(1) - 4;
      }
      this.header = Buffer.alloc(0);
    }
  }
}

export class StatementCounter {
  /** Statements seen since the start or the last reset. */
  statements = 0;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  /** Listens on a free loopback port and forwards every connection to `upstream`. */
  static async start(upstream: { host: string; port: number }): Promise<StatementCounter> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const counter = new StatementCounter(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (client) => counter.relay(client, upstream));
    return counter;
  }

  private relay(client: net.Socket, upstream: { host: string; port: number }): void {
    const server = net.connect(upstream.port, upstream.host);
    this.sockets.add(client).add(server);
    const reader = new FrontendMessageReader((type) => {
      if (type === 'Q' || type === 'E') this.statements += 1;
    });
    client.on('data', (chunk: Buffer) => {
      reader.feed(chunk);
      if (!server.write(chunk)) client.pause();
    });
    server.on('drain', () => client.resume());
    server.pipe(client);
    const close = () => {
      client.destroy();
      server.destroy();
      this.sockets.delete(client);
      this.sockets.delete(server);
    };
    client.on('close', close).on('error', close);
    server.on('close', close).on('error', close);
  }

  /** `databaseUrl` with its host and port replaced by this proxy's. */
  proxiedUrl(databaseUrl: string): string {
    const url = new URL(databaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
