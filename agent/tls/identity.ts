/**
 * Who a certificate names, in Ferry's terms (scripts/pki, installed as ferry-pki, writes them so):
 * the subject CN is the holder's name (a host such as "lab1", or an engine),
 * SAN URIs ferry://role/NAME are its roles, SAN DNS names and IP addresses
 * are what the holder may claim to be. Roles live in SAN URIs only, not in
 * the subject: one place, so no two fields can disagree.
 *
 * Works on both shapes Node gives: tls.PeerCertificate (a TLS peer) and
 * crypto.X509Certificate (a file).
 */
import type { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { addressToBigInt } from '../../shared/cidr.js';

export const ROLE_URI_PREFIX = 'ferry://role/';

/** The roles Ferry's API knows (agent/rpc/auth.ts); a certificate may carry others. */
export type Role = 'engine' | 'peer';

export interface CertIdentity {
  /** Subject CN: the host's or the engine's name ('' when the subject has none). */
  name: string;
  /** From SAN URIs ferry://role/NAME, in certificate order. */
  roles: readonly string[];
  dnsNames: readonly string[];
  /** IP SANs, in canonical text (IPv6 compressed, lower case). */
  ipAddresses: readonly string[];
  /** For log lines: "O=Ferry, OU=hosts, CN=lab1". */
  subject: string;
  issuer: string;
  validFrom: Date;
  validTo: Date;
  fingerprint256: string;
}

export function hasRole(identity: CertIdentity, role: Role): boolean {
  return identity.roles.includes(role);
}

/** "lab1 (peer)" or "engine (engine)": how log lines and errors name a caller. */
export function describeIdentity(identity: CertIdentity): string {
  return `${identity.name || identity.subject} (${identity.roles.length ? identity.roles.join(', ') : 'no role'})`;
}

export function identityOfPeerCertificate(cert: PeerCertificate): CertIdentity {
  const san = parseSubjectAltName(cert.subjectaltname ?? '');
  return {
    name: firstValue(cert.subject?.CN),
    ...rolesAndNames(san),
    subject: distinguishedName(cert.subject as unknown as Record<string, string | string[]> | undefined),
    issuer: distinguishedName(cert.issuer as unknown as Record<string, string | string[]> | undefined),
    validFrom: new Date(cert.valid_from),
    validTo: new Date(cert.valid_to),
    fingerprint256: cert.fingerprint256,
  };
}

export function identityOfX509(cert: X509Certificate): CertIdentity {
  const subject = parseDnLines(cert.subject);
  return {
    name: firstValue(subject.CN),
    ...rolesAndNames(parseSubjectAltName(cert.subjectAltName ?? '')),
    subject: distinguishedName(subject),
    issuer: distinguishedName(parseDnLines(cert.issuer)),
    validFrom: new Date(cert.validFrom),
    validTo: new Date(cert.validTo),
    fingerprint256: cert.fingerprint256,
  };
}

export interface SubjectAltNames {
  dns: string[];
  ip: string[];
  uri: string[];
}

/**
 * Node's "DNS:lab1, IP Address:198.18.0.1, URI:ferry://role/peer". Node
 * quotes a value that holds a comma or a quote (as a JSON string), so split
 * only outside quotes.
 */
export function parseSubjectAltName(text: string): SubjectAltNames {
  const out: SubjectAltNames = { dns: [], ip: [], uri: [] };
  for (const entry of splitOutsideQuotes(text)) {
    const colon = entry.indexOf(':');
    if (colon < 0) continue;
    const kind = entry.slice(0, colon).trim();
    let value = entry.slice(colon + 1).trim();
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        continue; // not Node's quoting: an entry we cannot trust to read right
      }
    }
    if (kind === 'DNS') out.dns.push(value);
    else if (kind === 'IP Address') out.ip.push(canonicalAddress(value));
    else if (kind === 'URI') out.uri.push(value);
  }
  return out;
}

/** One spelling per address, so that "2001:DB8:0:0:0:0:0:1" equals "2001:db8::1". */
export function canonicalAddress(address: string): string {
  const parsed = addressToBigInt(address);
  if (!parsed) return address;
  if (parsed.family === 4) return address;
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

export function sameAddress(a: string, b: string): boolean {
  const x = addressToBigInt(a);
  const y = addressToBigInt(b);
  return x !== undefined && y !== undefined && x.family === y.family && x.value === y.value;
}

function rolesAndNames(san: SubjectAltNames): Pick<CertIdentity, 'roles' | 'dnsNames' | 'ipAddresses'> {
  const roles = san.uri.filter((u) => u.startsWith(ROLE_URI_PREFIX)).map((u) => u.slice(ROLE_URI_PREFIX.length));
  return { roles: [...new Set(roles)], dnsNames: san.dns, ipAddresses: san.ip };
}

function splitOutsideQuotes(text: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charAt(i);
    if (ch === '"' && text[i - 1] !== '\\') quoted = !quoted;
    if (ch === ',' && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (current.trim()) parts.push(current);
  return parts;
}

/** X509Certificate gives "O=Ferry\nOU=hosts\nCN=lab1". */
function parseDnLines(text: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    const prior = out[key];
    out[key] = prior === undefined ? value : [...(Array.isArray(prior) ? prior : [prior]), value];
  }
  return out;
}

function distinguishedName(dn: Record<string, string | string[]> | undefined): string {
  if (!dn) return '';
  return Object.entries(dn)
    .flatMap(([key, value]) => (Array.isArray(value) ? value : [value]).map((v) => `${key}=${v}`))
    .join(', ');
}

function firstValue(value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value[0] : value) ?? '';
}
