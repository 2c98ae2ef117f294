// Who may stand at either end of a transfer, checked on the TLS connection itself (the trust model
// in docs/operations.md): both ends hold host certificates from the cluster CA with role peer; the
// destination admits only the source migration address its pinhole names, from a certificate that
// lists that address (as PrepareIncoming's source_migration_address must be); the source checks,
// as any TLS client, that the destination's certificate names the address it dialled.

import { checkServerIdentity, type PeerCertificate, type TLSSocket } from 'node:tls';
import { describeIdentity, hasRole, identityOfPeerCertificate, sameAddress } from '../tls/identity.js';
import { explainRefusal } from '../tls/listener.js';

/** This host's PEM files (agent/tls/material.ts's TlsMaterial has them: store.current). */
export interface TransferTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** The one source a destination waits for. */
export interface ExpectedSource {
  /** The source's migration address: the pinhole's source, the only remote address admitted. */
  address: string;
  /** The source's host name (PrepareIncoming's source_host): when given, its certificate must name it. */
  host?: string | undefined;
}

/** Why the destination refuses a client that completed the TLS handshake, or null to admit it. */
export function refusalOfSource(socket: TLSSocket, expected: ExpectedSource): string | null {
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return 'no client certificate: a transfer needs the source host certificate';
  if (!socket.authorized) return explainRefusal(String(socket.authorizationError), cert);
  const identity = identityOfPeerCertificate(cert);
  const who = `certificate ${describeIdentity(identity)}`;
  if (!hasRole(identity, 'peer')) return `${who} lacks role peer, which a transfer requires`;
  const remote = unmapped(socket.remoteAddress ?? '');
  if (!sameAddress(remote, expected.address)) {
    return `connection from ${remote || 'an unknown address'}, but this transfer admits ${expected.address} only`;
  }
  if (!identity.ipAddresses.some((a) => sameAddress(a, remote))) {
    return `${who} does not list ${remote}, the address it connects from (it lists ${identity.ipAddresses.join(', ') || 'no IP address'})`;
  }
  const host = expected.host;
  if (host !== undefined) {
    const names = [identity.name, ...identity.dnsNames].map((n) => n.toLowerCase());
    if (!names.includes(host.toLowerCase()) && !identity.ipAddresses.some((a) => sameAddress(a, host))) {
      return `${who} does not name ${host}, the source host of this transfer`;
    }
  }
  return null;
}

/**
 * For tls.connect's checkServerIdentity: Node's own check (the address dialled is an IP or DNS
 * SAN of the certificate), then role peer, so that only an agent can receive a disk.
 */
export function checkDestinationCertificate(host: string, cert: PeerCertificate): Error | undefined {
  const mismatch = checkServerIdentity(host, cert);
  if (mismatch) return mismatch;
  const identity = identityOfPeerCertificate(cert);
  if (!hasRole(identity, 'peer')) {
    return Object.assign(new Error(`the destination's certificate ${describeIdentity(identity)} lacks role peer`), {
      code: 'ERR_TRANSFER_PEER_ROLE',
    });
  }
  return undefined;
}

/** "::ffff:198.19.0.1" as "198.19.0.1": what a dual-stack socket reports for an IPv4 peer. */
function unmapped(address: string): string {
  return address.toLowerCase().startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
