// How a transfer fails, for the caller to log and map: one class, a `failure` word for programs,
// and the FerryError kind that goes with it so that the gRPC layer needs no table of its own.

import { FerryError, type ErrorKind } from '../../shared/errors.js';

export type TransferFailure =
  /** A connection was refused (certificate, address, token); the caller logs it, the transfer goes on waiting. */
  | 'refused'
  /** No accepted connection before the deadline, or nothing moved for the idle timeout. */
  | 'deadline'
  /** This side's AbortSignal. */
  | 'cancelled'
  /** The other side sent ABORT: its reason is in the message. */
  | 'peer-aborted'
  /** The destination's checksum or byte count of a volume is not the source's. */
  | 'checksum'
  /** A frame that breaks the protocol (a bug or not a Ferry agent). */
  | 'protocol'
  /** The connection failed or ended early. */
  | 'connection'
  /** The destination's sink (the volume upload) failed. */
  | 'sink'
  /** The source's stream (the volume download) failed. */
  | 'source';

const KINDS: Readonly<Record<TransferFailure, ErrorKind>> = {
  refused: 'PERMISSION_DENIED',
  deadline: 'DEADLINE_EXCEEDED',
  cancelled: 'CANCELLED',
  'peer-aborted': 'ABORTED',
  checksum: 'INTERNAL',
  protocol: 'INTERNAL',
  connection: 'UNAVAILABLE',
  sink: 'ABORTED',
  source: 'ABORTED',
};

export class TransferError extends FerryError {
  constructor(
    readonly failure: TransferFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(KINDS[failure], message, { step: 'transfer' }, options);
  }
}

export function isTransferError(err: unknown, failure?: TransferFailure): err is TransferError {
  return err instanceof TransferError && (failure === undefined || err.failure === failure);
}
