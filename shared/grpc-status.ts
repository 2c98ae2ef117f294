/**
 * The one mapping between Ferry's error kinds and gRPC status codes, used by
 * the agent when it answers (toServiceError) and by clients when they read an
 * answer (fromServiceError), so both ends agree on what each code means.
 */
import { Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { FerryError, type ErrorDetails, type ErrorKind, errorMessage } from './errors.js';

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

/** Error details travel as metadata so that clients get them back typed. */
const DETAIL_KEYS: Record<keyof ErrorDetails, string> = {
  field: 'ferry-field',
  step: 'ferry-step',
  libvirtCode: 'ferry-libvirt-code',
  libvirtName: 'ferry-libvirt-name',
};

/**
 * Status details travel in HTTP/2 trailers, which peers cap at a few KiB: an
 * error that echoes a 200 KB field would never arrive. Messages are cut here,
 * once, whatever the thrower quoted.
 */
const MAX_DETAILS = 1024;

function capped(message: string): string {
  return message.length <= MAX_DETAILS ? message : `${message.slice(0, MAX_DETAILS - 1)}…`;
}

export function statusName(code: status): string {
  return status[code] ?? `UNKNOWN(${code})`;
}

/**
 * Turns anything thrown by the core into what a gRPC handler passes to its
 * callback. Errors that are not FerryErrors are bugs or unexpected failures:
 * they become INTERNAL, with their message kept so that an operator sees it.
 */
export function toServiceError(err: unknown): Partial<StatusObject> {
  const metadata = new Metadata();
  if (err instanceof FerryError) {
    for (const [key, header] of Object.entries(DETAIL_KEYS) as [keyof ErrorDetails, string][]) {
      const value = err.details[key];
      if (value !== undefined) metadata.set(header, capped(String(value)));
    }
    return { code: KIND_TO_STATUS[err.kind], details: capped(err.message), metadata };
  }
  const message = errorMessage(err);
  return { code: status.INTERNAL, details: capped(`internal error: ${message}`), metadata };
}

/** Turns a failed call back into a FerryError, with its details. */
export function fromServiceError(err: ServiceError): FerryError {
  const kind = STATUS_TO_KIND.get(err.code) ?? 'INTERNAL';
  const details: ErrorDetails = {};
  const read = (header: string): string | undefined => {
    const value = err.metadata?.get(header)[0];
    return value === undefined ? undefined : String(value);
  };
  const field = read(DETAIL_KEYS.field);
  const step = read(DETAIL_KEYS.step);
  const libvirtCode = read(DETAIL_KEYS.libvirtCode);
  const libvirtName = read(DETAIL_KEYS.libvirtName);
  if (field !== undefined) details.field = field;
  if (step !== undefined) details.step = step;
  if (libvirtCode !== undefined) details.libvirtCode = Number(libvirtCode);
  if (libvirtName !== undefined) details.libvirtName = libvirtName;
  return new FerryError(kind, err.details || err.message, details, { cause: err });
}
