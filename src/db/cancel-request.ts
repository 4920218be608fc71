import net from 'node:net';
import type pg from 'pg';

// The PostgreSQL protocol's CancelRequest: sent on a connection of its own to wherever the client connected
// (PostgreSQL, or a pooler that forwards it to the server session running the client's statement).

const CANCEL_REQUEST_CODE = 80_877_102;

/** What a connected pg.Client learnt from BackendKeyData; not in @types/pg. */
interface BackendKey {
  processID?: number | null;
  secretKey?: number | null;
}

/**
 * Asks the server to cancel whatever `client` is running. Resolves once the server has read the request and
 * closed the connection, which PostgreSQL and PgBouncer do after acting on it, or after `timeoutMs`; never
 * rejects, since the statement it targets ends one way or another.
 */
export function sendCancelRequest(client: pg.Client, timeoutMs: number): Promise<void> {
  const { processID, secretKey } = client as unknown as BackendKey;
  if (processID == null || secretKey == null) return Promise.resolve();
  return new Promise((resolve) => {
    const socket = client.host.startsWith('/')
      ? net.connect(`${client.host}/.s.PGSQL.${client.port}`)
      : net.connect(client.port, client.host);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    socket.on('connect', () => {
      const packet = Buffer.alloc(16);
      packet.writeInt32BE(16, 0);
      packet.writeInt32BE(CANCEL_REQUEST_CODE, 4);
      packet.writeInt32BE(processID, 8);
      packet.writeInt32BE(secretKey, 12);
      // Written without ending our side: PgBouncer takes an early end of the stream for a client gone away and
      // drops the request.
      socket.write(packet);
    });
    socket.on('close', done);
    socket.on('error', done);
  });
}
