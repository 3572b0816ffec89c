/**
 * A UDP echo server for the mesh lab's backends: every datagram goes back to its sender unchanged.
 * Run: `node dist/bench/support/udp-echo.js ADDRESS PORT` (prints "listening" once bound; stops on SIGTERM).
 */
import { createSocket } from 'node:dgram';

const [address, port] = process.argv.slice(2);
const socket = createSocket('udp4');
socket.on('message', (msg, from) => socket.send(msg, from.port, from.address));
socket.on('error', (e) => {
  process.stderr.write(`udp echo ${address}:${port}: ${e.message}\n`);
  process.exit(1);
});
socket.bind(Number(port), address, () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => socket.close(() => process.exit(0)));
