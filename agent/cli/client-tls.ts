/**
 * Which credentials ferryctl presents. Agents speak mutual TLS unless they
 * run with tls.insecure, so ferryctl needs the cluster CA and a certificate
 * with role engine. First found wins, file by file:
 *   1. --ca, --cert, --key
 *   2. FERRY_CA, FERRY_CERT, FERRY_KEY (`scripts/lab env` prints them for the lab)
 *   3. /etc/ferry/pki/ca.pem, engine.pem, engine-key.pem (an operator's machine:
 *      `ferry-pki engine CADIR NAME --install /etc/ferry/pki` writes them)
 *   4. the same names in the lab's $FERRY_LAB_DIR/pki (default /var/lib/ferry-lab/pki)
 * --insecure: plaintext, for agents running with tls.insecure only.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { clientCredentialsFromFiles, type ClientTlsFiles } from '../../shared/credentials.js';
import { FerryError } from '../../shared/errors.js';

export interface TlsFlags {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  insecure?: boolean | undefined;
}

const ETC = '/etc/ferry/pki';

export function resolveClientTls(flags: TlsFlags, env: NodeJS.ProcessEnv, etc = ETC): ClientTlsFiles {
  const lab = join(env.FERRY_LAB_DIR || '/var/lib/ferry-lab', 'pki');
  const pick = (flag: string | undefined, variable: string, file: string): string | undefined =>
    flag || env[variable] || [join(etc, file), join(lab, file)].find((p) => existsSync(p));
  const caFile = pick(flags.ca, 'FERRY_CA', 'ca.pem');
  const certFile = pick(flags.cert, 'FERRY_CERT', 'engine.pem');
  const keyFile = pick(flags.key, 'FERRY_KEY', 'engine-key.pem');
  if (!caFile || !certFile || !keyFile) {
    const missing = [!caFile && '--ca', !certFile && '--cert', !keyFile && '--key'].filter(Boolean).join(', ');
    throw new FerryError(
      'FAILED_PRECONDITION',
      `no ${missing}: give the cluster CA and an engine certificate and key (--ca/--cert/--key or FERRY_CA/FERRY_CERT/FERRY_KEY), or --insecure for an agent running with tls.insecure`,
    );
  }
  return { caFile, certFile, keyFile };
}

export function clientCredentials(flags: TlsFlags, env: NodeJS.ProcessEnv): grpc.ChannelCredentials {
  if (flags.insecure) return grpc.credentials.createInsecure();
  return clientCredentialsFromFiles(resolveClientTls(flags, env));
}
