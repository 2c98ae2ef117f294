/**
 * Ferry's error vocabulary, shared by the agent's core, its adapters, the gRPC
 * layer and clients. The kinds mirror gRPC status names so that the mapping at
 * the RPC boundary is one table (shared/grpc-status.ts), but nothing here
 * imports gRPC: the migration core and the firewall throw FerryError without
 * knowing how it will travel.
 */
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
  /** The request field (dotted path) the error is about, when there is one. */
  field?: string;
  /** The step of a job that failed (e.g. "prepare", "perform", "finish"). */
  step?: string;
  /** libvirt's numeric error code and its name, when libvirt was the cause. */
  libvirtCode?: number;
  libvirtName?: string;
}

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
}

/** Shorthand for the most common failure: a request field the caller must fix. */
export function invalidArgument(field: string, message: string): FerryError {
  return new FerryError('INVALID_ARGUMENT', `${field}: ${message}`, { field });
}

export function isFerryError(err: unknown, kind?: ErrorKind): err is FerryError {
  return err instanceof FerryError && (kind === undefined || err.kind === kind);
}

/** What went wrong, for a message: an Error's message, anything else as text. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
