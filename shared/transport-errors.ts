/**
 * What went wrong when a call never reached the agent. grpc-js makes these
 * statuses itself (UNAVAILABLE or DEADLINE_EXCEEDED, without the agent's
 * google.rpc.Status details) and only says it in text: "No connection
 * established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1.
 * Resolution note: " (grpc-js 1.14, load-balancer-pick-first.js and
 * transport.js). This file reads that text once, so that a caller can tell
 * the network (refused, DNS, timeout) from TLS (whose certificate, which
 * check) and say so, and trims grpc-js's bookkeeping from the message.
 */
import type { FerryError } from './errors.js';

export type TransportFailureKind =
  /** Nothing listens on the port (or a firewall rejects it). */
  | 'refused'
  /** The host name does not resolve. */
  | 'dns'
  /** No answer to the connection attempt in time. */
  | 'timeout'
  /** No route to the host or its network. */
  | 'unreachable'
  /** The connection was reset or closed before anything was said. */
  | 'reset'
  /** The agent's certificate is not signed by the CA this client trusts. */
  | 'server-untrusted'
  /** The agent's certificate has expired or is not valid yet. */
  | 'server-expired'
  /** The agent's certificate does not name the address dialled. */
  | 'server-name'
  /** The agent answered a TLS handshake with something else: it runs without TLS. */
  | 'server-plaintext'
  /** The agent sent a TLS alert about this client's certificate. */
  | 'client-refused'
  /** The connection (TCP, and TLS if used) came up, then the agent closed it before speaking HTTP/2. */
  | 'closed-after-connect'
  /** The call was sent and the agent did not answer before the deadline. */
  | 'no-answer'
  /** Something else grpc-js reported. */
  | 'other';

export interface TransportFailure {
  kind: TransportFailureKind;
  /** The underlying error as grpc-js reported it, cleaned (e.g. "certificate has expired"). */
  detail: string;
}

/** grpc-js's "Last error: …" texts, first match wins. */
const PATTERNS: ReadonlyArray<readonly [RegExp, TransportFailureKind]> = [
  [/ECONNREFUSED/, 'refused'],
  [/ENOTFOUND|EAI_AGAIN|EAI_NONAME|Name resolution failed|No addresses resolved/, 'dns'],
  [/ETIMEDOUT|Waiting for LB pick|Failed to connect before the deadline/, 'timeout'],
  [/EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|ENETDOWN/, 'unreachable'],
  [
    /self[- ]signed certificate|unable to verify the first certificate|unable to get (local )?issuer certificate|certificate signature failure/,
    'server-untrusted',
  ],
  [/certificate has expired|certificate is not yet valid/, 'server-expired'],
  [/does not match certificate's altnames|ERR_TLS_CERT_ALTNAME_INVALID/, 'server-name'],
  [/wrong version number|packet length too long|unknown protocol|record layer failure/, 'server-plaintext'],
  [
    /alert (unknown ca|certificate required|bad certificate|certificate expired|certificate revoked|certificate unknown|unsupported certificate|access denied)/,
    'client-refused',
  ],
  [/ECONNRESET|EPIPE|Socket closed|socket hang up|Connection dropped/, 'reset'],
  [/Failed to connect(?! before)/, 'closed-after-connect'],
  [/remote_addr=/, 'no-answer'],
];

/**
 * The transport failure behind an error, or undefined when the agent itself
 * answered (its errors carry a reason) or the status is not one grpc-js makes
 * for a connection.
 */
export function transportFailureOf(err: FerryError): TransportFailure | undefined {
  if (err.details.reason !== undefined) return undefined;
  if (err.kind !== 'UNAVAILABLE' && err.kind !== 'DEADLINE_EXCEEDED') return undefined;
  const text = err.message;
  const detail = lastError(text);
  const kind = PATTERNS.find(([pattern]) => pattern.test(text))?.[1] ?? 'other';
  return { kind, detail };
}

/** "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: " → "connect ECONNREFUSED 127.0.0.1:1". */
function lastError(message: string): string {
  const match = /Last error: (?:Error(?: \[\w+\])?: )?([\s\S]*)$/.exec(message);
  const text = (match?.[1] ?? message).trim();
  // OpenSSL's "80FC…:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../ssl3_record.c:350:" → its reason.
  const openssl = /SSL routines:[^:]*:([^:]+):/.exec(text);
  return openssl?.[1] ?? text.replace(/\.$/, '');
}

/**
 * A grpc-js status message without its bookkeeping: the empty "Resolution
 * note:" it appends, and the time stamp in "Failed to connect (2026-…Z)".
 * Messages the agent wrote are left alone (they have neither).
 */
export function cleanGrpcMessage(message: string): string {
  return message
    .replace(/\.?\s*Resolution note:\s*$/, '')
    .replace(/ \(\d{4}-\d{2}-\d{2}T[\d:.]+Z\)/g, '')
    .trim();
}
