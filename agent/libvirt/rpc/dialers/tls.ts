// TLS (qemu+tls://host/system, port 16514) with x509 client certificates, as libvirt's
// remote driver does it. Tested against the lab's libvirtd TLS listeners
// (test/integration/libvirt-tls.test.ts). After the handshake libvirtd sends one byte, its
// verdict on our certificate (1 = accepted; else it closes): it is read here, before any RPC,
// or it would sit in front of the first reply and break the framing.

import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { DEFAULT_DIAL_TIMEOUT_MS, type Dialer } from './dialer.js';
import { isIP, type Socket } from 'node:net';
import { ConnectionError } from '../../errors.js';
import { awaitConnect } from './connect-socket.js';

export const DEFAULT_TLS_PORT = 16514;

export interface TlsDialerOptions {
  host: string;
  port?: number;
  timeoutMs?: number;
  /** CA, client certificate and key (PEM), e.g. from /etc/pki/CA/cacert.pem, /etc/pki/libvirt/. */
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Name to verify in the server certificate and to send as SNI (defaults to host; no SNI for an IP address). */
  servername?: string;
}

export function tlsDialer(opts: TlsDialerOptions): Dialer {
  const port = opts.port ?? DEFAULT_TLS_PORT;
  const address = `tls:${opts.host}:${port}`;
  return {
    address,
    dial(signal?: AbortSignal) {
      // No SNI for an address (RFC 6066, section 3; Node's DEP0123): Node then checks the certificate against host.
      const servername = opts.servername ?? (isIP(opts.host) ? undefined : opts.host);
      const tlsOpts: ConnectionOptions = { host: opts.host, port, ...(servername ? { servername } : {}) };
      if (opts.ca) tlsOpts.ca = opts.ca;
      if (opts.cert) tlsOpts.cert = opts.cert;
      if (opts.key) tlsOpts.key = opts.key;
      const socket = tlsConnect(tlsOpts);
      const timeoutMs = opts.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
      return awaitConnect(socket, address, { timeoutMs, readyEvent: 'secureConnect', ...(signal ? { signal } : {}) }).then((s) =>
        awaitCertificateVerdict(s, address, timeoutMs),
      );
    },
  };
}

const REFUSED = 'libvirtd refused our client certificate (not signed by its CA, or not in its tls_allowed_dn_list)';

/** Reads libvirtd's one-byte verdict, leaving the stream as it found it for the RPC layer. */
function awaitCertificateVerdict(socket: Socket, address: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const fail = (message: string) => {
      cleanup();
      socket.destroy();
      reject(new ConnectionError(address, message));
    };
    const onReadable = () => {
      const verdict = socket.read(1) as Buffer | null;
      if (verdict === null) return;
      cleanup();
      if (verdict[0] === 1) resolve(socket);
      else fail(`${REFUSED} [verdict ${verdict[0]}]`);
    };
    const onEnd = () => fail(`${REFUSED}: it closed the connection after the TLS handshake`);
    const onError = (err: Error) => fail(`${REFUSED}: ${err.message}`);
    const timer = setTimeout(() => fail(`no certificate verdict from libvirtd within ${timeoutMs} ms`), timeoutMs);
    // Removing the 'readable' listener lets a later 'data' listener switch the stream to flowing again.
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('error', onError);
    };
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
    socket.once('error', onError);
  });
}
