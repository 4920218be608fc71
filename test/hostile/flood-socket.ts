import WebSocket from 'ws';

// A client in a process of its own (so that writing thousands of frames costs the gateway's event loop nothing
// in the measurement): opens a graphql-transport-ws socket with an API key, sends `count` subscribe messages,
// each followed at once by its complete, then one more subscribe (again, while it is refused for want of a
// place), and reports on stdout, one line each:
// `ready` once acknowledged, `sent` once every frame is written, `next` when the last subscription gets its
// first result, and `closed <code>` if the socket closes. It exits when its stdin ends.
//
//   node --import tsx test/hostile/flood-socket.ts <ws url> <api key> <count> <subscription query> <variables JSON>

const [url, apiKey, count, query, variables] = process.argv.slice(2) as [string, string, string, string, string];
const socket = new WebSocket(url, 'graphql-transport-ws');
const say = (line: string) => process.stdout.write(`${line}\n`);
const subscribe = (id: string) =>
  `{"id":"${id}","type":"subscribe","payload":{"query":${JSON.stringify(query)},"variables":${variables}}}`;

socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { 'x-api-key': apiKey } })));
socket.on('close', (code) => say(`closed ${code}`));
socket.on('message', (data) => {
  const message = JSON.parse(String(data)) as { type: string; id?: string };
  if (message.type === 'connection_ack') {
    say('ready');
    for (let i = 0; i < Number(count); i++) {
      socket.send(subscribe(`f${i}`));
      socket.send(`{"id":"f${i}","type":"complete"}`);
    }
    socket.send(subscribe('last'), () => say('sent'));
  } else if (message.id === 'last' && message.type === 'next') {
    say('next');
  } else if (message.id === 'last' && message.type === 'error') {
    // Refused while the socket's places were taken by subscriptions still being set up: try again shortly.
    setTimeout(() => socket.send(subscribe('last')), 50);
  }
});
process.stdin.resume();
process.stdin.on('end', () => {
  socket.close(1000);
  process.exit(0);
});
