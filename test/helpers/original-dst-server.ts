/**
 * Run inside a test's network namespace: `original-dst-server.ts HOST PORT...` listens on each
 * port and answers every connection with one JSON line, the original destination that
 * getOriginalDestination read (or the error code), then closes it.
 */
import { createServer } from 'node:net';
import { getOriginalDestination } from '../../src/interception/original-dst.js';

const [host = '::', ...ports] = process.argv.slice(2);
for (const port of ports.map(Number)) {
  createServer((socket) => {
    socket.on('error', () => {});
    let answer: object;
    try {
      answer = getOriginalDestination(socket);
    } catch (err) {
      answer = { code: (err as { code?: string }).code, message: (err as Error).message };
    }
    socket.end(`${JSON.stringify(answer)}\n`);
  }).listen(port, host, () => process.stdout.write(`listening ${port}\n`));
}
// Exit cleanly on SIGTERM, so that coverage of the code under test is written.
process.on('SIGTERM', () => process.exit(0));
