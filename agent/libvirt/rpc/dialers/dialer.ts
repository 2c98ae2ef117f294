// How a connection's byte stream is obtained. One method, so transports (unix, tcp, tls, an
// already-open socket in tests) are interchangeable and the RPC layer never knows which it has.

import type { Socket } from 'node:net';

export interface Dialer {
  /** Human-readable address used in every error about this connection (socket path, host:port). */
  readonly address: string;
  /** Resolves with a connected socket, or rejects with ConnectionError naming `address`. */
  dial(signal?: AbortSignal): Promise<Socket>;
}

/** Default connect timeout: a local daemon answers in milliseconds; a lab/remote one in < 1 s. */
export const DEFAULT_DIAL_TIMEOUT_MS = 10_000;
