import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

// The ceiling: a bare node:http server that reads each request and answers with fixed bytes (the gateway's
// own dashboard response, saved by the benchmark to BODY_FILE). No routing, parsing or database: what one
// Node process on this machine can serve at most with a body of that size.

const { BODY_FILE, CONTENT_TYPE = 'application/json; charset=utf-8', HOST = '127.0.0.1', PORT = '0' } = process.env;
if (!BODY_FILE) {
  console.error('BODY_FILE is required');
  process.exit(2);
}
const body = readFileSync(BODY_FILE);
const headers = { 'content-type': CONTENT_TYPE, 'content-length': String(body.length) };

const server = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    response.writeHead(200, headers);
    response.end(body);
  });
});
server.listen(Number(PORT), HOST);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
