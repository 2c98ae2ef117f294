// Two hosts on loopback for the transfer tests (agent/transfer/), with certificates from
// scripts/pki: the destination at 127.0.0.1, the source at 127.0.0.2 (Linux routes all of
// 127.0.0.0/8 to lo, so a client can bind it), and the certificates the trust tests need.
import { readFileSync } from 'node:fs';
import type { TransferTls } from '../../agent/transfer/index.js';
import { ScratchPki, type IssuedCert } from './pki.js';

export const DESTINATION_ADDRESS = '127.0.0.1';
export const SOURCE_ADDRESS = '127.0.0.2';
export const SOURCE_HOST = 'src';

export interface TransferPeers {
  ca: ScratchPki;
  /** The PEM files ferryd would load: the CA, then this certificate and its key. */
  tls(cert: IssuedCert, caFile?: string): TransferTls;
  destination: IssuedCert;
  source: IssuedCert;
  dispose(): void;
}

export async function transferPeers(): Promise<TransferPeers> {
  const ca = await ScratchPki.create();
  const destination = await ca.host('dst', [DESTINATION_ADDRESS]);
  const source = await ca.host(SOURCE_HOST, [SOURCE_ADDRESS]);
  return {
    ca,
    destination,
    source,
    tls: (cert, caFile = ca.caFile) => ({ ca: readFileSync(caFile), cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) }),
    dispose: () => ca.dispose(),
  };
}
