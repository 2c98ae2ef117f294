// A unix datagram socket bound in a scratch directory, standing in for
// systemd's sockets (NOTIFY_SOCKET, the journal's): opened with the same
// unix-dgram package ferryd sends with, each datagram handed to onDatagram.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);
const { createSocket } = require('unix-dgram') as typeof import('unix-dgram');

export interface DatagramListener {
  /** The socket's path. */
  path: string;
  /** The scratch directory it is in (for other files of the test). */
  dir: string;
  /** Closes the socket and removes the directory. */
  close(): void;
}

export function listenDatagrams(name: string, onDatagram: (datagram: Buffer) => void): DatagramListener {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ferry-${name}-`));
  const socketPath = path.join(dir, `${name}.sock`);
  // unix-dgram may reuse the buffer it hands over: keep a copy.
  const socket = createSocket('unix_dgram', (msg: Buffer) => onDatagram(Buffer.from(msg)));
  socket.bind(socketPath);
  return {
    path: socketPath,
    dir,
    close() {
      socket.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
