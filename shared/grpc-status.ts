/**
 * The one mapping between Ferry's errors and gRPC statuses, used by the agent
 * when it answers (toServiceError) and by clients when they read an answer
 * (fromServiceError), so both ends agree on what each code means. The kind
 * is the status code; the reason, field, step, libvirt code and retry delay
 * travel as google.rpc.Status details (status-details.ts) that any gRPC
 * client can read, not as Ferry-only metadata.
 */
import { Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { FerryError, type ErrorDetails, type ErrorKind, errorMessage, isErrorReason } from './errors.js';
import { decodeStatus, encodeStatus, type RichStatus } from './status-details.js';

const KIND_TO_STATUS: Record<ErrorKind, status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  UNAVAILABLE: status.UNAVAILABLE,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
  ABORTED: status.ABORTED,
  CANCELLED: status.CANCELLED,
  UNIMPLEMENTED: status.UNIMPLEMENTED,
  INTERNAL: status.INTERNAL,
};

const STATUS_TO_KIND = new Map<status, ErrorKind>(Object.entries(KIND_TO_STATUS).map(([kind, code]) => [code, kind as ErrorKind]));

/** ErrorInfo's domain: the reasons are ferry.v1.ErrorReason's values (proto/ferry/v1/errors.proto). */
export const ERROR_DOMAIN = 'ferry.v1';

/** The trailer google.rpc.Status travels in (gRPC's richer error model). */
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

/** How long RESOURCE_EXHAUSTED and UNAVAILABLE ask a caller to wait when the thrower said nothing: the source's own first backoff. */
export const DEFAULT_RETRY_DELAY_MS = 1000;

const RETRYABLE: ReadonlySet<ErrorKind> = new Set(['RESOURCE_EXHAUSTED', 'UNAVAILABLE']);

/** ErrorInfo.metadata keys (AIP-193 allows snake_case; these are the contract's field-name style). */
const METADATA_KEYS = {
  field: 'field',
  step: 'step',
  libvirtCode: 'libvirt_code',
  libvirtName: 'libvirt_name',
  subject: 'subject',
} as const satisfies Partial<Record<keyof ErrorDetails, string>>;

/**
 * Status details travel in HTTP/2 trailers, which peers cap at a few KiB: an
 * error that echoes a 200 KB field would never arrive. Messages are cut here,
 * once, whatever the thrower quoted.
 */
const MAX_DETAILS = 1024;

/** A violation's description repeats the message: shorter, so that the trailers stay well under the limit. */
const MAX_DESCRIPTION = 512;

/** Several violations share the trailer: at most this many, each described more briefly. */
const MAX_VIOLATIONS = 12;
const MAX_VIOLATION_DESCRIPTION = 256;

function capped(message: string, max = MAX_DETAILS): string {
  return message.length <= max ? message : `${message.slice(0, max - 1)}…`;
}

/** The kind of a gRPC status code (INTERNAL for codes Ferry does not use). */
export function kindOfStatus(code: status): ErrorKind {
  return STATUS_TO_KIND.get(code) ?? 'INTERNAL';
}

export function statusName(code: status): string {
  return status[code] ?? `UNKNOWN(${code})`;
}

/** A FerryError as google.rpc.Status with the details its kind calls for. */
export function richStatusOf(err: FerryError): RichStatus {
  const message = capped(err.message);
  const description = capped(err.message, MAX_DESCRIPTION);
  const metadata: Record<string, string> = {};
  for (const [key, name] of Object.entries(METADATA_KEYS) as [keyof typeof METADATA_KEYS, string][]) {
    const value = err.details[key];
    if (value !== undefined) metadata[name] = capped(String(value));
  }
  const status: RichStatus = {
    code: KIND_TO_STATUS[err.kind],
    message,
    errorInfo: { reason: err.reason, domain: ERROR_DOMAIN, metadata },
  };
  if (err.kind === 'INVALID_ARGUMENT') {
    status.badRequest = { fieldViolations: [{ field: err.details.field ?? '', description }] };
  }
  if (err.kind === 'FAILED_PRECONDITION') {
    const subject = err.details.subject ?? err.details.field ?? '';
    const violations = err.details.violations?.slice(0, MAX_VIOLATIONS).map((v) => ({
      type: v.type,
      subject: capped(v.subject, MAX_DESCRIPTION),
      description: capped(v.description, MAX_VIOLATION_DESCRIPTION),
    }));
    status.preconditionFailure = { violations: violations?.length ? violations : [{ type: err.reason, subject, description }] };
  }
  if (RETRYABLE.has(err.kind)) status.retryInfo = { retryDelayMs: err.details.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS };
  return status;
}

/**
 * Turns anything thrown by the core into what a gRPC handler passes to its
 * callback: the status code, the message, and google.rpc.Status in its
 * trailer. Errors that are not FerryErrors are bugs or unexpected failures:
 * they become INTERNAL, with their message kept so that an operator sees it.
 */
export function toServiceError(err: unknown): Partial<StatusObject> {
  const error = err instanceof FerryError ? err : new FerryError('INTERNAL', `internal error: ${errorMessage(err)}`);
  const status = richStatusOf(error);
  const metadata = new Metadata();
  metadata.set(STATUS_DETAILS_KEY, encodeStatus(status));
  return { code: status.code, details: status.message, metadata };
}

/** The details of a rich status, back in FerryError's terms (the inverse of richStatusOf). */
export function detailsOf(status: RichStatus): ErrorDetails {
  const details: ErrorDetails = {};
  const info = status.errorInfo;
  if (info && info.domain === ERROR_DOMAIN && isErrorReason(info.reason)) details.reason = info.reason;
  const meta = info?.metadata ?? {};
  const field = meta[METADATA_KEYS.field] ?? status.badRequest?.fieldViolations[0]?.field;
  if (field) details.field = field;
  const step = meta[METADATA_KEYS.step];
  if (step !== undefined) details.step = step;
  const libvirtCode = meta[METADATA_KEYS.libvirtCode];
  if (libvirtCode !== undefined && Number.isInteger(Number(libvirtCode))) details.libvirtCode = Number(libvirtCode);
  const libvirtName = meta[METADATA_KEYS.libvirtName];
  if (libvirtName !== undefined) details.libvirtName = libvirtName;
  const subject = meta[METADATA_KEYS.subject] ?? status.preconditionFailure?.violations[0]?.subject;
  if (subject) details.subject = subject;
  if (status.retryInfo) details.retryDelayMs = status.retryInfo.retryDelayMs;
  // Several violations are a list of things to fix (Migrate's checks); one is the error itself.
  const violations = status.preconditionFailure?.violations ?? [];
  if (violations.length > 1 || details.reason === 'MIGRATION_CHECK_FAILED') {
    details.violations = violations.map(({ type, subject, description }) => ({ type, subject, description }));
  }
  return details;
}

/**
 * Turns a failed call back into a FerryError, with the details of the
 * google.rpc.Status in its trailer. A status without them (one grpc-js made
 * itself: a connection refused, a deadline passed) keeps only its code and
 * message, and so its kind's default reason.
 */
export function fromServiceError(err: ServiceError): FerryError {
  const kind = kindOfStatus(err.code);
  const message = err.details || err.message;
  const [bytes] = err.metadata?.get(STATUS_DETAILS_KEY) ?? [];
  let details: ErrorDetails = {};
  if (bytes instanceof Buffer) {
    try {
      details = detailsOf(decodeStatus(bytes));
    } catch {
      // Not a google.rpc.Status (another server's trailer): the code and message still stand.
    }
  }
  return new FerryError(kind, message, details, { cause: err });
}
