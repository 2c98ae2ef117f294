/**
 * Why an agent may have refused this client's certificate, read from the
 * files alone. ferryd closes a connection whose certificate does not verify
 * right after the TLS handshake, without a TLS alert (agent/tls/listener.ts
 * logs the reason on the agent's side), so the client's only clue is its own
 * certificate: expired, not yet valid, or not signed by the CA it trusts
 * (which is, in a Ferry cluster, the CA the agents trust too).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ClientTlsFiles } from '../../shared/credentials.js';

/** What is wrong with the certificate, or undefined when nothing visible is. */
export function clientCertificateProblem(files: ClientTlsFiles, now = new Date()): string | undefined {
  let cert: X509Certificate;
  let ca: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(files.certFile));
    ca = new X509Certificate(readFileSync(files.caFile));
  } catch {
    return undefined;
  }
  const notAfter = new Date(cert.validTo);
  const notBefore = new Date(cert.validFrom);
  if (notAfter < now) return `it expired at ${notAfter.toISOString()}`;
  if (notBefore > now) return `it is not valid before ${notBefore.toISOString()}`;
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    return `it is not signed by the CA in ${files.caFile} (its issuer: ${cert.issuer.replaceAll('\n', ', ')})`;
  }
  return undefined;
}
