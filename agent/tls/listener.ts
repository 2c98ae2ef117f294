/**
 * ferryd's TLS listener. TLS 1.3 only, client certificate requested. grpc-js
 * cannot tell "no certificate" from "bad certificate" (its auth context is
 * empty for both) and drops bad ones silently, so the handshake is ours:
 *   - a certificate that does not verify (another CA, expired, not yet valid,
 *     wrong purpose) is refused right after the handshake, with one log line
 *     saying whose certificate and why;
 *   - no certificate at all is let through, so that the call gets a clear
 *     UNAUTHENTICATED from agent/rpc/auth.ts instead of a dropped connection;
 *   - a verified connection is handed to the gRPC server (a connection
 *     injector), where call.getAuthContext() shows the peer certificate.
 * update() swaps the certificate for new connections (reload without restart).
 */
import type { AddressInfo } from 'node:net';
import { createServer, type PeerCertificate, type Server, type TLSSocket } from 'node:tls';
import type { Logger } from '../log.js';
import type { TlsMaterial } from './material.js';

export interface TlsListenerOptions {
  host: string;
  port: number;
  material: TlsMaterial;
  /** A verified (or certificate-less) connection, for the gRPC server. */
  onConnection(socket: TLSSocket): void;
  log: Pick<Logger, 'info' | 'warn'>;
}

export interface TlsListener {
  port: number;
  update(material: TlsMaterial): void;
  close(): Promise<void>;
}

export async function listenTls(options: TlsListenerOptions): Promise<TlsListener> {
  const { log } = options;
  const server: Server = createServer({
    ...contextOf(options.material),
    requestCert: true,
    // Verification happens below, where the refusal can be logged and a
    // missing certificate told apart from a bad one.
    rejectUnauthorized: false,
    ALPNProtocols: ['h2'],
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.on('error', () => undefined); // resets after the handshake are the gRPC session's business
    const cert = socket.getPeerCertificate();
    const presented = Object.keys(cert).length > 0;
    if (presented && !socket.authorized) {
      log.warn('TLS client refused', {
        peer: peerOf(socket),
        subject: dn(cert.subject),
        issuer: dn(cert.issuer),
        reason: explainRefusal(String(socket.authorizationError), cert),
      });
      socket.destroy();
      return;
    }
    options.onConnection(socket);
  });
  // Plaintext clients, port scanners, clients insisting on TLS 1.2: one line
  // each, at info: nothing reached the API.
  server.on('tlsClientError', (err, socket) => {
    log.info('TLS handshake failed', { peer: peerOf(socket), error: err.message.trim() });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    update: (material) => server.setSecureContext(contextOf(material)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** What an operator reads in the log: whose certificate, and what to fix. */
export function explainRefusal(code: string, cert: Pick<PeerCertificate, 'valid_from' | 'valid_to' | 'issuer'>): string {
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return `client certificate expired at ${iso(cert.valid_to)}: issue a new one`;
    case 'CERT_NOT_YET_VALID':
      return `client certificate is not valid before ${iso(cert.valid_from)} (a clock off on one side?)`;
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_SIGNATURE_FAILURE':
      return `client certificate is not signed by the cluster CA (its issuer: ${dn(cert.issuer)}) [${code}]`;
    case 'INVALID_PURPOSE':
      return 'client certificate is not for client authentication (extendedKeyUsage lacks clientAuth)';
    default:
      return `client certificate does not verify: ${code}`;
  }
}

/** "198.18.0.254:40112"; a socket already closed no longer knows (then "unknown"). */
function peerOf(socket: TLSSocket): string {
  return socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'unknown (closed before the handshake)';
}

/** Also for setSecureContext, which resets what it is not given (minVersion included). */
function contextOf(material: TlsMaterial) {
  return { ca: material.ca, cert: material.cert, key: material.key, minVersion: 'TLSv1.3' as const };
}

function dn(value: object | undefined): string {
  if (!value) return '';
  return Object.entries(value)
    .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}=${String(x)}`))
    .join(', ');
}

function iso(text: string): string {
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toISOString();
}
