import net from 'node:net';

// Small HTTP and socket helpers. Everything the benchmark sends goes to 127.0.0.1.

export const LOOPBACK = '127.0.0.1';

/** A GraphQL request as the benchmark sends it: POST, JSON body, optional extra headers. */
export interface GraphQLRequest {
  query: string;
  variables?: Record<string, unknown>;
  operationName?: string;
  headers?: Record<string, string>;
  /** Default /graphql. */
  path?: string;
}

export interface GraphQLBody {
  data?: unknown;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
  extensions?: Record<string, unknown>;
}

export function requestBody(request: GraphQLRequest): string {
  const { query, variables, operationName } = request;
  return JSON.stringify({ query, ...(variables ? { variables } : {}), ...(operationName ? { operationName } : {}) });
}

export function requestHeaders(request: GraphQLRequest): Record<string, string> {
  return { 'content-type': 'application/json', accept: 'application/json', ...request.headers };
}

export interface RawResponse {
  status: number;
  contentType: string;
  bytes: Buffer;
  ms: number;
}

/** Sends one request the way the load generator will, and returns the raw answer. */
export async function send(baseUrl: string, request: GraphQLRequest, timeoutMs = 60_000): Promise<RawResponse> {
  const started = performance.now();
  const response = await fetch(new URL(request.path ?? '/graphql', baseUrl), {
    method: 'POST',
    headers: requestHeaders(request),
    body: requestBody(request),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const bytes = Buffer.from(await response.arrayBuffer());
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    bytes,
    ms: performance.now() - started,
  };
}

/** A port that was free a moment ago on the loopback interface. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` until it resolves true. Gives up after `timeoutMs`, or at once when `exited` settles
 * (the process being waited for has died, so waiting longer is pointless).
 */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs: number; exited?: Promise<unknown> },
): Promise<void> {
  let dead = false;
  void options.exited?.then(() => {
    dead = true;
  });
  const deadline = performance.now() + options.timeoutMs;
  while (performance.now() < deadline) {
    if (dead) throw new Error(`${what} exited before it was ready`);
    if (await probe().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error(`${what} was not ready within ${Math.round(options.timeoutMs / 1000)} s`);
}

/**
 * Sends one command to a Redis server and returns its raw RESP reply (enough for PING and INFO): the command
 * is followed by QUIT, so the whole reply has arrived when the server closes the connection.
 */
export async function redisCommand(url: string, args: string[], timeoutMs = 1_000): Promise<string> {
  const { hostname, port, password, username } = new URL(url);
  const encode = (parts: string[]) =>
    `*${parts.length}\r\n${parts.map((part) => `$${Buffer.byteLength(part)}\r\n${part}\r\n`).join('')}`;
  const auth = password
    ? encode(
        username
          ? ['AUTH', decodeURIComponent(username), decodeURIComponent(password)]
          : ['AUTH', decodeURIComponent(password)],
      )
    : '';
  const socket = net.connect(Number(port || 6379), hostname || LOOPBACK);
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`Redis at ${hostname}:${port || 6379} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(auth + encode(args) + encode(['QUIT'])));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
