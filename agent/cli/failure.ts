/**
 * What ferryctl says when a call fails: what happened and, where it can,
 * what to do. A call that never reached the agent is told by its cause
 * (refused, DNS, timeout, which TLS check); an agent's refusal shows its
 * message and the google.rpc.Status details it sent (reason, fields,
 * preconditions, libvirt's code, when to retry).
 */
import type { ServiceError } from '@grpc/grpc-js';
import { type FerryError, isFerryError } from '../../shared/errors.js';
import { STATUS_DETAILS_KEY } from '../../shared/grpc-status.js';
import { decodeStatus, type RichStatus } from '../../shared/status-details.js';
import { transportFailureOf, type TransportFailure } from '../../shared/transport-errors.js';
import type { ConnectionFacts } from './agent.js';
import { clientCertificateProblem } from './client-certificate.js';
import { CliExit, operationFailed } from './exit.js';

export function explainFailure(err: unknown, facts: ConnectionFacts): CliExit {
  if (err instanceof CliExit) return err;
  if (!isFerryError(err)) return operationFailed(err instanceof Error ? err.message : String(err));
  const transport = transportFailureOf(err);
  return operationFailed(transport ? transportMessage(transport, facts) : agentMessage(err));
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function transportMessage(failure: TransportFailure, facts: ConnectionFacts): string {
  const { target, tls } = facts;
  const unreachable = `cannot reach ferryd at ${target}`;
  const tlsFailed = `TLS with ferryd at ${target} failed`;
  switch (failure.kind) {
    case 'refused':
      return `${unreachable}: connection refused — is it running, and listening on that port?`;
    case 'dns':
      return `${unreachable}: the host name does not resolve (${failure.detail})`;
    case 'timeout':
      return `${unreachable}: no connection within ${seconds(facts.timeoutMs)} (timed out) — is the host up, and the port open to this machine?`;
    case 'unreachable':
      return `${unreachable}: no route to the host (${failure.detail})`;
    case 'reset':
      // A reset right after a TLS handshake is how some servers refuse a certificate: if ours has a visible flaw, say that.
      if (tls && clientCertificateProblem(tls)) return refusedCertificate(failure, facts);
      return `${unreachable}: the connection was closed before the agent answered (${failure.detail})`;
    case 'server-untrusted':
      return `${tlsFailed}: the agent's certificate is not signed by the CA in ${tls?.caFile ?? '--ca'} (${failure.detail}) — is that the cluster CA?`;
    case 'server-expired':
      return `${tlsFailed}: the agent's certificate is not valid now (${failure.detail}) — renew it on the agent`;
    case 'server-name':
      return `${tlsFailed}: the agent's certificate does not name the address dialled (${failure.detail}) — use a name or address its certificate lists`;
    case 'server-plaintext':
      return `${tlsFailed}: the agent does not speak TLS (${failure.detail}) — it runs with tls.insecure: use --insecure`;
    case 'client-refused':
    case 'closed-after-connect':
      return refusedCertificate(failure, facts);
    case 'no-answer':
      return `ferryd at ${target} did not answer within ${seconds(facts.timeoutMs)} (--timeout)`;
    case 'other':
      return `${unreachable}: ${failure.detail}`;
  }
}

/** The connection came up and the agent dropped it: it refused the certificate (or, with --insecure, spoke TLS). */
function refusedCertificate(failure: TransportFailure, facts: ConnectionFacts): string {
  const { target, tls } = facts;
  if (!tls) return `ferryd at ${target} closed the connection: it speaks TLS (the default) — drop --insecure and give --ca/--cert/--key`;
  const why = clientCertificateProblem(tls);
  // A TLS alert names the agent's objection; a close or a reset (either may come, by timing) says nothing more.
  const alert = failure.kind === 'client-refused' ? ` (${failure.detail})` : '';
  const cause = why ? `: ${why}` : ' — the agent logs why ("TLS client refused")';
  return `ferryd at ${target} refused the client certificate ${tls.certFile}${alert}${cause}`;
}

/** The agent's own message, then one line of codes and one line per detail that adds to the message. */
function agentMessage(err: FerryError): string {
  const lines = [err.message];
  const facts = [`${err.kind}`, `reason ${err.reason}`];
  const { field, step, libvirtCode, libvirtName, subject, retryDelayMs } = err.details;
  if (field) facts.push(`field ${field}`);
  if (step) facts.push(`step ${step}`);
  if (libvirtName || libvirtCode !== undefined)
    facts.push(`libvirt ${libvirtName ?? ''}${libvirtCode !== undefined ? ` (${libvirtCode})` : ''}`.trim());
  if (subject) facts.push(subject);
  if (retryDelayMs !== undefined) facts.push(`retry after ${seconds(retryDelayMs)}`);
  lines.push(`  ${facts.join(', ')}`);
  const status = richStatus(err);
  for (const violation of status?.badRequest?.fieldViolations ?? []) {
    if (!err.message.includes(violation.description)) lines.push(`  field ${violation.field}: ${violation.description}`);
  }
  for (const violation of status?.preconditionFailure?.violations ?? []) {
    if (!err.message.includes(violation.description))
      lines.push(`  precondition ${violation.type} (${violation.subject}): ${violation.description}`);
  }
  const hint = HINTS[err.reason];
  if (hint) lines.push(`  ${hint}`);
  return lines.join('\n');
}

const HINTS: Partial<Record<FerryError['reason'], string>> = {
  ROLE_MISSING: 'the client certificate lacks that role: ferryctl needs an engine certificate (the pki tool\'s "engine" command makes one)',
  CERTIFICATE_REQUIRED: 'no client certificate was sent: give --cert/--key (or FERRY_CERT/FERRY_KEY)',
};

/** The google.rpc.Status the agent sent in its trailer, read again for the details FerryError keeps only in part. */
function richStatus(err: FerryError): RichStatus | undefined {
  const cause = err.cause as Partial<ServiceError> | undefined;
  const [bytes] = cause?.metadata?.get(STATUS_DETAILS_KEY) ?? [];
  if (!(bytes instanceof Buffer)) return undefined;
  try {
    return decodeStatus(bytes);
  } catch {
    return undefined;
  }
}
