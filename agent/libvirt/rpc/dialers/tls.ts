// TLS (qemu+tls://host/system, port 16514) with x509 client certificates, as libvirt's
// remote driver does it. Untested against a daemon here (the lab uses tcp with auth none).

import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { DEFAULT_DIAL_TIMEOUT_MS, type Dialer } from './dialer.js';
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
  /** Name to verify in the server certificate (defaults to host). */
  servername?: string;
}

export function tlsDialer(opts: TlsDialerOptions): Dialer {
  const port = opts.port ?? DEFAULT_TLS_PORT;
  const address = `tls:${opts.host}:${port}`;
  return {
    address,
    dial(signal?: AbortSignal) {
      const tlsOpts: ConnectionOptions = { host: opts.host, port, servername: opts.servername ?? opts.host };
      if (opts.ca) tlsOpts.ca = opts.ca;
      if (opts.cert) tlsOpts.cert = opts.cert;
      if (opts.key) tlsOpts.key = opts.key;
      const socket = tlsConnect(tlsOpts);
      return awaitConnect(socket, address, {
        timeoutMs: opts.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS,
        readyEvent: 'secureConnect',
        ...(signal ? { signal } : {}),
      });
    },
  };
}
