// Plain TCP (qemu+tcp://host/system, port 16509). Unencrypted and, with auth_tcp="none",
// unauthenticated: for labs and tests (the lab's daemons listen on 198.18.0.N:16509).

import { createConnection } from 'node:net';
import { DEFAULT_DIAL_TIMEOUT_MS, type Dialer } from './dialer.js';
import { awaitConnect } from './connect-socket.js';

export const DEFAULT_TCP_PORT = 16509;

export function tcpDialer(opts: { host: string; port?: number; timeoutMs?: number }): Dialer {
  const port = opts.port ?? DEFAULT_TCP_PORT;
  const address = `tcp:${opts.host}:${port}`;
  return {
    address,
    dial(signal?: AbortSignal) {
      const socket = createConnection({ host: opts.host, port });
      // Small RPCs and replies: don't let Nagle delay them behind each other.
      socket.setNoDelay(true);
      return awaitConnect(socket, address, { timeoutMs: opts.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS, ...(signal ? { signal } : {}) });
    },
  };
}
