// The destination's side of the handshake: a TLS server on the pinhole's address and port that
// admits exactly one connection, the first that is authenticated (peer-checks.ts) and presents
// the token, then stops listening. Every other connection is refused with an ABORT saying why
// and reported to the caller (who logs it); it does not end the wait. No admitted connection
// before the deadline, or the caller's signal, ends it.

import type { AddressInfo } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import { TransferError } from './errors.js';
import { abortReason } from './first-failure.js';
import { FrameSocket } from './frame-socket.js';
import { encodeAccept, PROTOCOL_VERSION } from './frames.js';
import { refusalOfSource, type ExpectedSource, type TransferTls } from './peer-checks.js';
import { tokenMatches } from './transfer-token.js';

/** A connection the destination did not admit, for its log. */
export interface TransferRefusal {
  /** "address:port" of the client. */
  peer: string;
  reason: string;
}

export interface ListenOptions {
  /** The pinhole's destination address and port (0: any free port, for tests). */
  address: string;
  port: number;
  source: ExpectedSource;
  token: Buffer;
  tls: TransferTls;
  /** How long after listening the connection may take to arrive (and present its token). */
  arrivalTimeoutMs: number;
  /** How long one connection may take from TCP connect to its HELLO (default 10 s). */
  helloTimeoutMs?: number | undefined;
  /** Idle timeout of the admitted connection (FrameSocket). */
  idleTimeoutMs: number;
  signal?: AbortSignal | undefined;
  onRefused?: ((refusal: TransferRefusal) => void) | undefined;
}

export interface Listening {
  port: number;
  /** The admitted connection, its HELLO read and ACCEPT sent. */
  admitted: Promise<FrameSocket>;
}

const DEFAULT_HELLO_TIMEOUT_MS = 10_000;

export async function listenForSource(options: ListenOptions): Promise<Listening> {
  if (options.signal?.aborted) throw new TransferError('cancelled', `the transfer was cancelled: ${abortReason(options.signal)}`);
  const helloTimeoutMs = options.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS;
  const server = createServer({
    ca: options.tls.ca,
    cert: options.tls.cert,
    key: options.tls.key,
    minVersion: 'TLSv1.3',
    requestCert: true,
    // Checked after the handshake (peer-checks.ts), where the refusal can say why.
    rejectUnauthorized: false,
    handshakeTimeout: helloTimeoutMs,
  });
  const candidates = new Set<TLSSocket>();
  let settled = false;
  let deadline: NodeJS.Timeout | undefined;
  let admit: (connection: FrameSocket) => void = () => undefined;
  let giveUp: (err: Error) => void = () => undefined;
  const admitted = new Promise<FrameSocket>((resolve, reject) => {
    admit = resolve;
    giveUp = reject;
  });
  admitted.catch(() => undefined); // the caller may learn of it late; it is not unhandled

  const stopListening = () => {
    settled = true;
    clearTimeout(deadline);
    options.signal?.removeEventListener('abort', onAbort);
    server.close();
    for (const socket of candidates) socket.destroy();
    candidates.clear();
  };
  const fail = (err: Error) => {
    if (settled) return;
    stopListening();
    giveUp(err);
  };
  const refuse = (socket: TLSSocket, reason: string) => {
    candidates.delete(socket);
    options.onRefused?.({ peer: `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? '?'}`, reason });
    new FrameSocket(socket, 0).abort(`refused: ${reason}`);
  };

  server.on('secureConnection', (socket: TLSSocket) => {
    if (settled) {
      socket.destroy();
      return;
    }
    const refusal = refusalOfSource(socket, options.source);
    if (refusal) {
      refuse(socket, refusal);
      return;
    }
    candidates.add(socket);
    const connection = new FrameSocket(socket, helloTimeoutMs);
    void connection.frames.next().then(
      (next) => {
        if (settled) return refuse(socket, 'the transfer already has its connection');
        if (next.done || next.value.type !== 'hello') return refuse(socket, 'the first frame is not a HELLO');
        if (next.value.version !== PROTOCOL_VERSION)
          return refuse(socket, `protocol version ${next.value.version}, expected ${PROTOCOL_VERSION}`);
        if (!tokenMatches(options.token, next.value.token)) return refuse(socket, 'wrong transfer token');
        candidates.delete(socket);
        stopListening();
        connection.setIdleTimeout(options.idleTimeoutMs);
        void connection.write(encodeAccept()).catch(() => undefined); // a failure shows on the next read
        admit(connection);
      },
      (err: Error) => {
        candidates.delete(socket);
        options.onRefused?.({ peer: connection.peer, reason: `no HELLO: ${err.message}` });
        socket.destroy();
      },
    );
  });
  server.on('tlsClientError', (err, socket) => {
    options.onRefused?.({
      peer: `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? '?'}`,
      reason: `TLS handshake failed: ${err.message.trim()}`,
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.address, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: Error) => {
    throw new TransferError('connection', `cannot listen on ${options.address}:${options.port}: ${err.message}`, { cause: err });
  });
  const onAbort = () =>
    fail(new TransferError('cancelled', `the transfer was cancelled before its connection: ${abortReason(options.signal)}`));
  deadline = setTimeout(
    () =>
      fail(
        new TransferError('deadline', `no transfer connection from ${options.source.address} within ${options.arrivalTimeoutMs / 1000} s`),
      ),
    options.arrivalTimeoutMs,
  );
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  return { port: (server.address() as AddressInfo).port, admitted };
}
