// The destination's end of a transfer: listens (transfer-listener.ts), then takes the volumes it
// announced in its PrepareIncoming answer, each into the sink the caller opens for it, checks each
// one's checksum and byte counts against the source's END, and answers each with an ACK. A volume
// that does not verify is abandoned (its sink destroyed, which aborts a libvirt upload) and fails
// the transfer on both sides; so do a sink's failure, the source's ABORT and the caller's signal.

import type { Writable } from 'node:stream';
import { TransferError, isTransferError } from './errors.js';
import { FirstFailure, abortReason } from './first-failure.js';
import { DEFAULT_IDLE_TIMEOUT_MS, type FrameSocket } from './frame-socket.js';
import { encodeAck, type Frame, type VolumeDigest } from './frames.js';
import type { ExpectedSource, TransferTls } from './peer-checks.js';
import { SinkWriter } from './sink-writer.js';
import { listenForSource, type TransferRefusal } from './transfer-listener.js';
import { mismatch, verdictOf, type IncomingVolume } from './volume-verdict.js';

export type { IncomingVolume };

export interface ReceivedVolume extends IncomingVolume, VolumeDigest {}

export interface ReceiveOptions {
  /** The pinhole's destination address and port. */
  address: string;
  port: number;
  source: ExpectedSource;
  token: Buffer;
  tls: TransferTls;
  volumes: readonly IncomingVolume[];
  /** A Writable in object mode taking Buffer chunks and { hole } objects: the libvirt upload, in production. */
  openSink(volume: IncomingVolume): Writable | Promise<Writable>;
  arrivalTimeoutMs: number;
  helloTimeoutMs?: number;
  /** Nothing read or written for this long fails the transfer (default 60 s; 0: never). */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
  onRefused?: (refusal: TransferRefusal) => void;
}

export interface IncomingTransfer {
  /** The port listened on (the one given, or the one chosen for port 0). */
  port: number;
  /** Every volume verified and its sink finished; rejects with a TransferError. */
  done: Promise<ReceivedVolume[]>;
}

/** Listens at once; `done` settles when the transfer is over. */
export async function receiveVolumes(options: ReceiveOptions): Promise<IncomingTransfer> {
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const listening = await listenForSource({ ...options, idleTimeoutMs });
  const done = listening.admitted.then((connection) => receiveOn(connection, options));
  done.catch(() => undefined); // rejections reach whoever awaits `done`; none is unhandled meanwhile
  return { port: listening.port, done };
}

async function receiveOn(connection: FrameSocket, options: ReceiveOptions): Promise<ReceivedVolume[]> {
  const failure = new FirstFailure();
  const onAbort = () =>
    failure.fail(new TransferError('cancelled', `the destination cancelled the transfer: ${abortReason(options.signal)}`));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  let sink: SinkWriter | null = null;
  try {
    const expected = new Map(options.volumes.map((v) => [v.id, v]));
    const received: ReceivedVolume[] = [];
    while (received.length < options.volumes.length) {
      const header = await nextFrame(connection, failure, `after ${received.length} of ${options.volumes.length} volumes`);
      if (header.type !== 'volume') throw unexpected(header, 'VOLUME');
      const volume = expected.get(header.id);
      if (!volume)
        throw new TransferError('protocol', `the source sent volume "${header.id}", which this transfer does not expect (or already has)`);
      if (header.size !== volume.size) {
        throw new TransferError(
          'protocol',
          `the source sent volume ${volume.id} with a size of ${header.size} bytes, expected ${volume.size}`,
        );
      }
      expected.delete(volume.id);
      sink = new SinkWriter(await failure.race(openSink(options, volume)), volume.id);
      received.push(await receiveVolume(connection, failure, volume, sink));
      sink = null;
    }
    await failure.race(connection.finish());
    return received;
  } catch (err) {
    const error = failure.error ?? (isTransferError(err) ? err : connection.lost());
    failure.fail(error);
    sink?.abandon(error);
    // The source's own ABORT needs no answer; anything else is told to it.
    if (isTransferError(error, 'peer-aborted')) connection.socket.destroy();
    else connection.abort(error.message);
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}

async function receiveVolume(
  connection: FrameSocket,
  failure: FirstFailure,
  volume: IncomingVolume,
  sink: SinkWriter,
): Promise<ReceivedVolume> {
  for (;;) {
    const frame = await nextFrame(connection, failure, `inside volume ${volume.id}`);
    if (frame.type === 'data') await failure.race(sink.write(frame.data));
    else if (frame.type === 'hole') await failure.race(sink.write({ hole: frame.length }));
    else if (frame.type === 'end') return finishVolume(connection, failure, volume, sink, frame);
    else throw unexpected(frame, 'DATA, HOLE or END');
  }
}

async function finishVolume(
  connection: FrameSocket,
  failure: FirstFailure,
  volume: IncomingVolume,
  sink: SinkWriter,
  sent: VolumeDigest,
): Promise<ReceivedVolume> {
  const written = await failure.race(sink.written());
  const verdict = verdictOf(volume, sent, written);
  if (verdict !== 'verified') {
    const error = mismatch(volume, verdict, sent, written);
    sink.abandon(error);
    await failure.race(connection.write(encodeAck(volume.id, verdict, written)));
    throw error;
  }
  // Finished (for libvirt: virStreamFinish) only once verified, so a bad copy never looks complete.
  await failure.race(sink.finish());
  await failure.race(connection.write(encodeAck(volume.id, 'verified', written)));
  return { ...volume, ...written };
}

async function nextFrame(connection: FrameSocket, failure: FirstFailure, where: string): Promise<Frame> {
  let next: IteratorResult<Frame>;
  try {
    next = await failure.race(connection.frames.next());
  } catch (err) {
    throw asTransferError(err, connection);
  }
  if (next.done) throw new TransferError('connection', `the source closed the transfer connection ${where}`);
  if (next.value.type === 'abort') throw new TransferError('peer-aborted', `the source aborted the transfer: ${next.value.reason}`);
  return next.value;
}

async function openSink(options: ReceiveOptions, volume: IncomingVolume): Promise<Writable> {
  try {
    return await options.openSink(volume);
  } catch (err) {
    throw new TransferError('sink', `cannot open the sink of volume ${volume.id}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
}

function unexpected(frame: Frame, wanted: string): TransferError {
  return new TransferError('protocol', `expected ${wanted}, got a ${frame.type.toUpperCase()} frame`);
}

function asTransferError(err: unknown, connection: FrameSocket): TransferError {
  return isTransferError(err) ? err : connection.lost();
}
