/**
 * Ferry's error vocabulary, shared by the agent's core, its adapters, the gRPC
 * layer and clients. The kinds mirror gRPC status names so that the mapping at
 * the RPC boundary is one table (shared/grpc-status.ts), but nothing here
 * imports gRPC: the migration core and the firewall throw FerryError without
 * knowing how it will travel. Each error also has a reason for programs
 * (ferry.v1.ErrorReason in proto/ferry/v1/errors.proto): the thrower names
 * it where it knows one, otherwise the kind's default below applies.
 */
import { ErrorReason as PROTO_REASONS, type ErrorReason__Output } from './generated/ferry/v1/ErrorReason.js';

/** The name of a ferry.v1.ErrorReason value, as sent in google.rpc.ErrorInfo.reason. */
export type ErrorReason = Exclude<ErrorReason__Output, 'ERROR_REASON_UNSPECIFIED'>;

/** Whether a reason read from the wire is one of the contract's (and not its zero value). */
export function isErrorReason(value: string): value is ErrorReason {
  return value !== 'ERROR_REASON_UNSPECIFIED' && Object.hasOwn(PROTO_REASONS, value);
}

export type ErrorKind =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'RESOURCE_EXHAUSTED'
  | 'PERMISSION_DENIED'
  | 'UNAUTHENTICATED'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'ABORTED'
  | 'CANCELLED'
  | 'UNIMPLEMENTED'
  | 'INTERNAL';

export interface ErrorDetails {
  /** Why, for programs; the kind's default reason when not given. */
  reason?: ErrorReason;
  /** The request field (dotted path) the error is about, when there is one. */
  field?: string;
  /** The step of a job that failed (e.g. "prepare", "perform", "finish"). */
  step?: string;
  /** libvirt's numeric error code and its name, when libvirt was the cause. */
  libvirtCode?: number;
  libvirtName?: string;
  /** The VM or job the error is about ("vm/<uuid>", "job/<id>"), when it is not the field. */
  subject?: string;
  /** How long to wait before trying again (RESOURCE_EXHAUSTED, UNAVAILABLE); a default when not given. */
  retryDelayMs?: number;
  /**
   * FAILED_PRECONDITION with more than one thing to fix (Migrate's checks):
   * each as a google.rpc.PreconditionFailure violation; without them the
   * error makes one violation of its reason, subject and message.
   */
  violations?: PreconditionViolation[];
}

/** One violation of google.rpc.PreconditionFailure: its type, its subject, and what to fix. */
export interface PreconditionViolation {
  type: string;
  subject: string;
  description: string;
}

/** The reason of an error whose thrower named none: the most general one of its kind. */
export const DEFAULT_REASON: Readonly<Record<ErrorKind, ErrorReason>> = {
  INVALID_ARGUMENT: 'INVALID_FIELD',
  NOT_FOUND: 'RESOURCE_NOT_FOUND',
  ALREADY_EXISTS: 'RESOURCE_EXISTS',
  FAILED_PRECONDITION: 'PRECONDITION_FAILED',
  RESOURCE_EXHAUSTED: 'LIMIT_REACHED',
  PERMISSION_DENIED: 'NOT_ALLOWED',
  UNAUTHENTICATED: 'CERTIFICATE_REQUIRED',
  UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  DEADLINE_EXCEEDED: 'TIMED_OUT',
  ABORTED: 'OPERATION_ABORTED',
  CANCELLED: 'OPERATION_CANCELLED',
  UNIMPLEMENTED: 'NOT_IMPLEMENTED',
  INTERNAL: 'INTERNAL_ERROR',
};

export class FerryError extends Error {
  override readonly name = 'FerryError';
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly details: ErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The reason its thrower named, or its kind's default. */
  get reason(): ErrorReason {
    return this.details.reason ?? DEFAULT_REASON[this.kind];
  }
}

/** Shorthand for the most common failure: a request field the caller must fix. */
export function invalidArgument(field: string, message: string): FerryError {
  return new FerryError('INVALID_ARGUMENT', `${field}: ${message}`, { field, reason: 'INVALID_FIELD' });
}

/** A required request field that is missing or empty. */
export function fieldRequired(field: string, message: string): FerryError {
  return new FerryError('INVALID_ARGUMENT', `${field}: ${message}`, { field, reason: 'FIELD_REQUIRED' });
}

export function isFerryError(err: unknown, kind?: ErrorKind): err is FerryError {
  return err instanceof FerryError && (kind === undefined || err.kind === kind);
}

/** What went wrong, for a message: an Error's message, anything else as text. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
