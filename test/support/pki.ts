// Certificates for tests, made by scripts/pki (openssl) in a scratch
// directory: the trust tests need a CA of their own, certificates with and
// without roles, one from another CA and one that has expired.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type * as grpc from '@grpc/grpc-js';
import { clientCredentialsFromPem } from '../../shared/credentials.js';
import { REPO_ROOT } from './lab.js';

const run = promisify(execFile);
export const PKI_SCRIPT = join(REPO_ROOT, 'scripts', 'pki');

export interface IssuedCert {
  certFile: string;
  keyFile: string;
}

/** The pair scripts/pki writes for --out PREFIX: PREFIX.pem and PREFIX-key.pem. */
export function issuedAt(prefix: string): IssuedCert {
  return { certFile: `${prefix}.pem`, keyFile: `${prefix}-key.pem` };
}

export async function pki(...args: string[]): Promise<string> {
  const { stdout } = await run(PKI_SCRIPT, args, { timeout: 60_000 });
  return stdout.trim();
}

/** A scratch directory with a fresh CA in it (removed by dispose()). */
export class ScratchPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'ferry-pki-'));

  static async create(): Promise<ScratchPki> {
    const p = new ScratchPki();
    await pki('ca', p.dir);
    return p;
  }

  get caFile(): string {
    return join(this.dir, 'ca.pem');
  }

  /**
   * An agent's certificate: CN=name, role peer unless args say otherwise
   * (--role, --not-before, --not-after...). Written to out.pem and out-key.pem.
   */
  async host(name: string, ips: string[], args: string[] = [], out = join(this.dir, 'hosts', name)): Promise<IssuedCert> {
    await pki('host', this.dir, name, ...ips.flatMap((ip) => ['--ip', ip]), ...args, '--out', out);
    return issuedAt(out);
  }

  async engine(name: string, args: string[] = [], out = join(this.dir, name)): Promise<IssuedCert> {
    await pki('engine', this.dir, name, ...args, '--out', out);
    return issuedAt(out);
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Client credentials with a certificate (or none: TLS with the CA only). */
export function credentialsFor(caFile: string, cert?: IssuedCert): grpc.ChannelCredentials {
  // The CA alone: the client verifies the agent but shows no certificate.
  if (!cert) return clientCredentialsFromPem({ ca: readFileSync(caFile) });
  return clientCredentialsFromPem({ ca: readFileSync(caFile), cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) });
}

/** YYYYMMDDHHMMSSZ for openssl ca, from a Date. */
export function opensslDate(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:T]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}
