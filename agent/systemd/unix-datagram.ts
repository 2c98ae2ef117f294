/**
 * A unix datagram socket that sends to one path, for systemd's sockets:
 * NOTIFY_SOCKET (sd_notify) and the journal's native socket. Node cannot send
 * unix datagrams, so this uses the unix-dgram addon, loaded only when a
 * socket is opened: a host without systemd never loads native code.
 */
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import type { UnixDgramSocket } from 'unix-dgram';

export interface DatagramSender {
  /**
   * Sends one datagram, at once: sendto(2) on a non-blocking socket, so
   * datagrams leave in the order of the calls and a logger can fall back
   * line by line. Throws a DatagramError (ENOENT, ECONNREFUSED, EMSGSIZE…;
   * EAGAIN when the receiver's queue is full); the datagram is not sent.
   */
  send(datagram: Buffer | string): void;
  close(): void;
}

/** A failed send, with the errno's name as its code. */
export class DatagramError extends Error {
  constructor(
    readonly code: string,
    path: string,
  ) {
    super(`sending to ${path}: ${code}`);
  }
}

const require = createRequire(import.meta.url);

/** unix-dgram reports -errno, or 1 for a full queue (EAGAIN, EWOULDBLOCK, ENOBUFS). */
function errnoName(err: Error & { code?: unknown }): string {
  if (err.code === 1) return 'EAGAIN';
  const errno = typeof err.code === 'number' ? -err.code : Number.NaN;
  return Object.entries(constants.errno).find(([, n]) => n === errno)?.[0] ?? err.message;
}

/**
 * Opens a socket that sends to `path`, named `what` in errors
 * ("NOTIFY_SOCKET"). Abstract-namespace addresses ("@…") are refused: the
 * addon copies the path as a C string and cannot express them (systemd's
 * system manager uses /run/systemd/notify and /run/systemd/journal/socket).
 */
export function openDatagramSender(path: string, what: string): DatagramSender {
  if (path.startsWith('@')) throw new Error(`${what} ${path} is in the abstract namespace, which ferryd cannot send to`);
  if (!path.startsWith('/')) throw new Error(`${what} ${path} is not an absolute path`);
  const { createSocket } = require('unix-dgram') as typeof import('unix-dgram');
  const socket: UnixDgramSocket = createSocket('unix_dgram');
  // Send errors arrive through the callbacks; this keeps a stray one from
  // becoming an uncaught 'error' event.
  socket.on('error', () => undefined);
  let open = true;
  return {
    send(datagram) {
      if (!open) throw new Error(`${what} closed`);
      const buf = typeof datagram === 'string' ? Buffer.from(datagram) : datagram;
      let failure: Error | undefined;
      // unix-dgram calls back before send() returns (it calls sendto(2) directly).
      socket.send(buf, 0, buf.length, path, (err) => {
        failure = err;
      });
      if (failure) throw new DatagramError(errnoName(failure), path);
    },
    close() {
      if (!open) return;
      open = false;
      socket.close();
    },
  };
}
