/**
 * Loads the agent's TLS files (tls.ca_file, tls.cert_file, tls.key_file) and
 * checks them before they are used: a certificate that is expired, not yet
 * valid, not signed by the configured CA or not matching its key is refused
 * here, with a message naming the file and what to do, rather than showing up
 * later as handshakes that every peer refuses.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { FerryError, errorMessage } from '../../shared/errors.js';
import { describeIdentity, identityOfX509, type CertIdentity } from './identity.js';

export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface TlsMaterial {
  files: TlsFiles;
  /** PEM, as read. */
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  /** This agent's own certificate, read. */
  identity: CertIdentity;
  /** Non-fatal findings, e.g. a certificate that expires soon or lacks a role. */
  warnings: string[];
}

/** A certificate that ends within this is announced at every load. */
const EXPIRY_WARNING_MS = 14 * 24 * 3600_000;

export function loadTlsMaterial(files: TlsFiles, now: number = Date.now()): TlsMaterial {
  const ca = readPem(files.caFile, 'tls.ca_file', 'the cluster CA certificate');
  const cert = readPem(files.certFile, 'tls.cert_file', "this agent's certificate");
  const key = readPem(files.keyFile, 'tls.key_file', "this agent's private key");

  const authorities = pemBlocks(ca, 'CERTIFICATE').map((block, i) => parseCertificate(block, `${files.caFile} (certificate ${i + 1})`));
  if (authorities.length === 0) throw refused(`${files.caFile} (tls.ca_file) holds no PEM certificate: give the cluster CA's ca.pem`);
  const [leafPem] = pemBlocks(cert, 'CERTIFICATE');
  if (!leafPem) throw refused(`${files.certFile} (tls.cert_file) holds no PEM certificate`);
  const leaf = parseCertificate(leafPem, files.certFile);
  const identity = identityOfX509(leaf);
  const who = `${files.certFile} (${identity.subject})`;

  if (now < identity.validFrom.getTime()) {
    throw refused(
      `${who} is not valid yet: it starts at ${identity.validFrom.toISOString()} (check this host's clock, or issue a certificate valid now)`,
    );
  }
  if (now > identity.validTo.getTime()) {
    throw refused(
      `${who} expired at ${identity.validTo.toISOString()}: install a new one (ferry-pki host; a running ferryd takes it on SIGHUP)`,
    );
  }
  if (!authorities.some((authority) => leaf.checkIssued(authority) && leaf.verify(authority.publicKey))) {
    throw refused(
      `${who} is not signed by the CA in ${files.caFile} (issuer ${identity.issuer}): peers would refuse it; use a certificate from the cluster CA`,
    );
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw refused(`${files.keyFile} (tls.key_file) is not a readable PEM private key: ${errorMessage(err)}`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw refused(`${files.keyFile} (tls.key_file) is not the private key of ${who}: give the key issued with it`);
  }
  try {
    createSecureContext({ ca, cert, key });
  } catch (err) {
    throw refused(`the TLS files are not usable together: ${errorMessage(err)}`);
  }

  const warnings: string[] = [];
  if (identity.validTo.getTime() - now < EXPIRY_WARNING_MS) {
    warnings.push(`this agent's certificate ${identity.subject} expires at ${identity.validTo.toISOString()}: renew it soon`);
  }
  if (!identity.roles.includes('peer')) {
    warnings.push(
      `this agent's certificate ${describeIdentity(identity)} has no role peer: other agents will refuse its PrepareIncoming calls`,
    );
  }
  if (!identity.name) warnings.push(`this agent's certificate has no subject CN: peers cannot tell which host it is`);
  return { files, ca, cert, key, identity, warnings };
}

/** The same files, compared byte for byte: a reload that changed nothing is no event. */
export function sameMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  return a.ca.equals(b.ca) && a.cert.equals(b.cert) && a.key.equals(b.key);
}

function readPem(path: string, key: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw refused(`cannot read ${what} ${path} (${key}): ${errorMessage(err)}`);
  }
}

function pemBlocks(pem: Buffer, label: string): string[] {
  const re = new RegExp(`-----BEGIN ${label}-----[\\s\\S]+?-----END ${label}-----`, 'g');
  return pem.toString('utf8').match(re) ?? [];
}

function parseCertificate(pem: string, where: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw refused(`${where} is not a valid X.509 certificate: ${errorMessage(err)}`);
  }
}

function refused(message: string): FerryError {
  return new FerryError('FAILED_PRECONDITION', message);
}
