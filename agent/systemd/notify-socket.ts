/**
 * The datagram socket to systemd's NOTIFY_SOCKET. Node cannot send unix
 * datagrams, so this uses the unix-dgram addon, loaded only when systemd
 * asked for notifications: a host without systemd never loads native code.
 */
import { createRequire } from 'node:module';
import type { UnixDgramSocket } from 'unix-dgram';

export interface NotifySocket {
  /** Sends one datagram of newline-separated KEY=VALUE assignments. */
  send(message: string): Promise<void>;
  close(): void;
}

const require = createRequire(import.meta.url);

/**
 * Opens a socket that sends to `path`. Abstract-namespace addresses ("@…")
 * are refused: the addon copies the path as a C string and cannot express
 * them (systemd's system manager uses /run/systemd/notify).
 */
export function openNotifySocket(path: string): NotifySocket {
  if (path.startsWith('@')) throw new Error(`NOTIFY_SOCKET=${path} is in the abstract namespace, which ferryd cannot send to`);
  if (!path.startsWith('/')) throw new Error(`NOTIFY_SOCKET=${path} is not an absolute path`);
  const { createSocket } = require('unix-dgram') as typeof import('unix-dgram');
  const socket: UnixDgramSocket = createSocket('unix_dgram');
  // Send errors arrive through the callbacks; this keeps a stray one from
  // becoming an uncaught 'error' event.
  socket.on('error', () => undefined);
  let open = true;
  return {
    send(message) {
      const buf = Buffer.from(message);
      return new Promise((resolve, reject) => {
        if (!open) return reject(new Error('notify socket closed'));
        socket.send(buf, 0, buf.length, path, (err) => (err ? reject(err) : resolve()));
      });
    },
    close() {
      if (!open) return;
      open = false;
      socket.close();
    },
  };
}
