/**
 * The connection a command works through. Everything that can be wrong
 * before a connection (no --from, no credentials, an unreadable key) is a
 * usage error: exit status 2, nothing sent. After that, a failure is the
 * operation's (exit status 1), explained by failure.ts.
 */
import * as grpc from '@grpc/grpc-js';
import { agentTarget, connectAgent, type CallOptions, type FerryClients } from '../../shared/client.js';
import { clientCredentialsFromFiles, type ClientTlsFiles } from '../../shared/credentials.js';
import { errorMessage, isFerryError } from '../../shared/errors.js';
import { resolveClientTls } from './client-tls.js';
import { usageError } from './exit.js';
import { explainFailure } from './failure.js';
import type { GlobalOptions } from './program.js';
import { agentAddress } from './values.js';

export interface Agent {
  readonly clients: FerryClients;
  /** The agent as the user named it (--from or FERRY_AGENT), for commands ferryctl suggests. */
  readonly from: string;
  /** host:port as dialled. */
  readonly target: string;
  /** --json: canonical proto3 JSON on stdout instead of text. */
  readonly json: boolean;
  /** For every unary call: --timeout. */
  readonly callOptions: CallOptions;
}

/** What failure.ts needs to explain a failure. */
export interface ConnectionFacts {
  target: string;
  timeoutMs: number;
  /** The credential files, unless --insecure. */
  tls: ClientTlsFiles | undefined;
}

/** Connects to the agent, runs `work`, closes; failures leave as CliExit. */
export async function withAgent(options: GlobalOptions, work: (agent: Agent) => Promise<void>): Promise<void> {
  const from = options.from ?? agentFromEnvironment();
  if (!from) throw usageError('--from HOST[:PORT] is required (or set FERRY_AGENT): the agent to call');
  const tls = options.insecure ? undefined : credentialFiles(options);
  const credentials = tls ? credentialsFrom(tls) : grpc.credentials.createInsecure();
  const target = agentTarget(from);
  const clients = connectAgent(from, credentials);
  const agent: Agent = { clients, from, target, json: options.json === true, callOptions: { timeoutMs: options.timeout } };
  try {
    await work(agent);
  } catch (err) {
    throw explainFailure(err, { target, timeoutMs: options.timeout, tls });
  } finally {
    clients.close();
  }
}

/** FERRY_AGENT, checked as --from is; unset or empty: undefined. */
function agentFromEnvironment(): string | undefined {
  const value = process.env.FERRY_AGENT;
  if (!value) return undefined;
  try {
    return agentAddress(value);
  } catch (err) {
    throw usageError(`FERRY_AGENT=${value} is not an agent address: ${errorMessage(err)}`);
  }
}

function credentialFiles(options: GlobalOptions): ClientTlsFiles {
  try {
    return resolveClientTls(options, process.env);
  } catch (err) {
    if (isFerryError(err)) throw usageError(err.message);
    throw err;
  }
}

function credentialsFrom(files: ClientTlsFiles): grpc.ChannelCredentials {
  try {
    return clientCredentialsFromFiles(files);
  } catch (err) {
    // An unreadable file (a FerryError naming it), or a key that does not match its certificate.
    if (err instanceof Error && /key values mismatch/.test(err.message)) {
      throw usageError(`the key ${files.keyFile} is not the key of the certificate ${files.certFile}`);
    }
    if (err instanceof Error) throw usageError(`cannot use the TLS files: ${err.message}`);
    throw err;
  }
}
