// The library's error vocabulary. Every failure a caller can see is one of these classes, so
// callers branch on `instanceof` or a predicate, never on message text.
//
//   LibvirtError      the daemon answered with remote_error (code/domain/level are libvirt's
//                     virErrorNumber/virErrorDomain/virErrorLevel; codeName is the C name)
//   ConnectionError   could not connect / the connection failed; names the socket or address
//   InterruptedError  the call was in flight when the connection went away; it may or may not
//                     have run on the daemon (we never replay: migrate/destroy aren't idempotent)
//   CallTimeoutError  no reply within the call's deadline (the call may still complete remotely)
//   ProtocolError     the byte stream made no sense (framing/decoding); the connection is dropped
//   XdrEncodeError    a caller passed a value that can't be encoded (bad input, nothing was sent)
//   ClosedError       the client was closed by its owner

import { virErrorDomain, virErrorLevel, virErrorNumber } from './generated/constants.gen.js';

function reverse(table: Readonly<Record<string, number>>): Map<number, string> {
  const m = new Map<number, string>();
  for (const [name, value] of Object.entries(table)) {
    // Prefer the first name for a value; skip the *_LAST sentinels.
    if (!m.has(value) && !name.endsWith('_LAST')) m.set(value, name);
  }
  return m;
}
const codeNames = reverse(virErrorNumber);
const domainNames = reverse(virErrorDomain);
const levelNames = reverse(virErrorLevel);

/** C name of a virErrorNumber, e.g. 42 → 'VIR_ERR_NO_DOMAIN'. */
export function errorCodeName(code: number): string {
  return codeNames.get(code) ?? `VIR_ERR_UNKNOWN_${code}`;
}

export class LibvirtError extends Error {
  override readonly name = 'LibvirtError';
  readonly codeName: string;
  readonly domainName: string;
  readonly levelName: string;
  constructor(
    readonly code: number,
    readonly domain: number,
    message: string,
    readonly level: number,
    /** Which procedure failed, e.g. 'DOMAIN_LOOKUP_BY_UUID'. */
    readonly procedure: string,
    readonly extra: { str1: string | null; str2: string | null; str3: string | null; int1: number; int2: number } = {
      str1: null,
      str2: null,
      str3: null,
      int1: 0,
      int2: 0,
    },
  ) {
    super(message);
    this.codeName = errorCodeName(code);
    this.domainName = domainNames.get(domain) ?? `VIR_FROM_UNKNOWN_${domain}`;
    this.levelName = levelNames.get(level) ?? `VIR_ERR_LEVEL_${level}`;
  }
}

export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';
  constructor(
    /** The socket path or host:port this connection is for. */
    readonly address: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${address}: ${message}`, options);
  }
}

export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
  constructor(
    readonly procedure: string,
    readonly address: string,
    options?: { cause?: unknown },
  ) {
    super(`${procedure} interrupted: connection to ${address} closed before the reply arrived`, options);
  }
}

export class CallTimeoutError extends Error {
  override readonly name = 'CallTimeoutError';
  constructor(
    readonly procedure: string,
    readonly timeoutMs: number,
  ) {
    super(`${procedure}: no reply within ${timeoutMs} ms`);
  }
}

export class ProtocolError extends Error {
  override readonly name: string = 'ProtocolError';
}

export class XdrDecodeError extends ProtocolError {
  override readonly name = 'XdrDecodeError';
}

export class XdrEncodeError extends TypeError {
  override readonly name = 'XdrEncodeError';
}

export class ClosedError extends Error {
  override readonly name = 'ClosedError';
  constructor(readonly address: string) {
    super(`connection to ${address} is closed`);
  }
}

// ---- Predicates (tolerate any `unknown`, so they work directly in catch blocks) ----

function hasCode(e: unknown, ...codes: number[]): boolean {
  return e instanceof LibvirtError && codes.includes(e.code);
}
export const isNoDomain = (e: unknown): boolean => hasCode(e, virErrorNumber.VIR_ERR_NO_DOMAIN);
export const isOperationInvalid = (e: unknown): boolean => hasCode(e, virErrorNumber.VIR_ERR_OPERATION_INVALID);
export const isNoSupport = (e: unknown): boolean =>
  hasCode(e, virErrorNumber.VIR_ERR_NO_SUPPORT, virErrorNumber.VIR_ERR_NO_DOMAIN_METADATA);
export const isOperationAborted = (e: unknown): boolean => hasCode(e, virErrorNumber.VIR_ERR_OPERATION_ABORTED);
export const isOperationTimeout = (e: unknown): boolean => hasCode(e, virErrorNumber.VIR_ERR_OPERATION_TIMEOUT);
export const isAuthFailed = (e: unknown): boolean =>
  hasCode(e, virErrorNumber.VIR_ERR_AUTH_FAILED, virErrorNumber.VIR_ERR_AUTH_CANCELLED, virErrorNumber.VIR_ERR_AUTH_UNAVAILABLE);
/** The connection is gone (dead daemon, closed, framing error): safe to reconnect and retry reads. */
export const isDisconnected = (e: unknown): boolean =>
  e instanceof ConnectionError || e instanceof InterruptedError || e instanceof ClosedError || e instanceof ProtocolError;
