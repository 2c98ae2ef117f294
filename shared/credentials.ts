/**
 * Channel credentials for calling a Ferry agent with a client certificate
 * (mutual TLS 1.3), shared by ferryctl, agents calling peers, and tests. The
 * agent's certificate is checked against the address dialled (IP or DNS SAN),
 * as any TLS client does.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { FerryError, errorMessage } from './errors.js';

export interface ClientPem {
  /** The cluster CA certificate(s) that signed the agents. */
  ca: Buffer;
  /** The client's certificate (chain) and private key; without them the
   * client still verifies the agent, but the agent answers UNAUTHENTICATED. */
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
}

export interface ClientTlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export function clientCredentialsFromPem(pem: ClientPem): grpc.ChannelCredentials {
  // Created here rather than by grpc.credentials.createSsl to pin TLS 1.3,
  // the only version agents speak.
  const context = createSecureContext({
    ca: pem.ca,
    ...(pem.cert && pem.key ? { cert: pem.cert, key: pem.key } : {}),
    minVersion: 'TLSv1.3',
  });
  return grpc.credentials.createFromSecureContext(context);
}

/** Reads the three files; a FerryError names the one that cannot be read. */
export function readClientPem(files: ClientTlsFiles): ClientPem {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new FerryError('FAILED_PRECONDITION', `cannot read ${what} ${path}: ${errorMessage(err)}`);
    }
  };
  return {
    ca: read(files.caFile, 'the CA certificate'),
    cert: read(files.certFile, 'the client certificate'),
    key: read(files.keyFile, 'the client key'),
  };
}

export function clientCredentialsFromFiles(files: ClientTlsFiles): grpc.ChannelCredentials {
  return clientCredentialsFromPem(readClientPem(files));
}
