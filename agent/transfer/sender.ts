// The source's end of a transfer: connects to the destination's pinhole over TLS with this host's
// certificate (the destination's must name the address dialled and carry role peer), presents the
// token, then streams each volume — DATA frames for data, HOLE frames for holes, never zeros —
// with the SHA-256 of its logical content in its END, and resolves once the destination has
// acknowledged every volume as verified. Writes wait for the socket to drain, so a slow
// destination stops the reading of the source (in production, the libvirt download).

import type { Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { errorMessage } from '../../shared/errors.js';
import { TransferError, isTransferError } from './errors.js';
import { FirstFailure, abortReason } from './first-failure.js';
import { DEFAULT_IDLE_TIMEOUT_MS, FrameSocket } from './frame-socket.js';
import {
  MAX_DATA_LENGTH,
  encodeDataHeader,
  encodeEnd,
  encodeHello,
  encodeHole,
  encodeVolume,
  type Frame,
  type VolumeDigest,
} from './frames.js';
import { checkDestinationCertificate, type TransferTls } from './peer-checks.js';
import { RateLimit } from './rate-limit.js';
import { SendProgressMeter, type SendProgress } from './send-progress.js';
import { mismatch } from './volume-verdict.js';
import { LogicalHash, isVolumeHole } from './volume-chunks.js';

export interface OutgoingVolume {
  /** The destination's id for the volume (from its PrepareIncoming answer). */
  id: string;
  /** Logical size in bytes: what the source stream must add up to, holes included. */
  size: number;
  /** Opened when its turn comes: a Readable in object mode of Buffer chunks and { hole } objects (the libvirt download). */
  open(): Readable | Promise<Readable>;
}

export interface SentVolume extends VolumeDigest {
  id: string;
  size: number;
}

export interface SendOptions {
  /** The destination's migration address and the pinhole's port. */
  address: string;
  port: number;
  /** This host's migration address, so the connection leaves from the address the pinhole admits. */
  localAddress?: string;
  token: Buffer;
  tls: TransferTls;
  volumes: readonly OutgoingVolume[];
  /** TCP and TLS handshake (default 10 s). */
  connectTimeoutMs?: number;
  /** Nothing read or written for this long fails the transfer (default 60 s; 0: never). */
  idleTimeoutMs?: number;
  /** Data bytes a second, at most, on average (holes cost nothing), read before each DATA frame; absent or 0: as fast as it goes. */
  maxBytesPerSecond?: () => number;
  signal?: AbortSignal;
  /** Bytes written and volumes verified: at each volume boundary, and at most every 250 ms in between. */
  onProgress?: (progress: SendProgress) => void;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** TLS verification failures: the destination is not the host it should be. */
const REFUSAL_CODES = new Set([
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_TRANSFER_PEER_ROLE',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
]);

export async function sendVolumes(options: SendOptions): Promise<SentVolume[]> {
  const failure = new FirstFailure();
  const onAbort = () => failure.fail(new TransferError('cancelled', `the source cancelled the transfer: ${abortReason(options.signal)}`));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  let connection: FrameSocket | null = null;
  const meter = new SendProgressMeter(options.onProgress);
  try {
    connection = await failure.race(connect(options, failure));
    await failure.race(connection.write(encodeHello(options.token)));
    const answer = await nextFrame(connection, failure);
    if (answer === null) throw new TransferError('connection', 'the destination closed the connection instead of accepting it');
    if (answer.type === 'abort') throw new TransferError('refused', `the destination refused the transfer connection: ${answer.reason}`);
    if (answer.type !== 'accept') throw new TransferError('protocol', `expected ACCEPT, got a ${answer.type.toUpperCase()} frame`);

    const awaitingAck: SentVolume[] = [];
    const acked = readAcks(connection, failure, awaitingAck, options.volumes.length, meter);
    acked.catch((err: Error) => failure.fail(err));
    const sent: SentVolume[] = [];
    const limit = options.maxBytesPerSecond ? new RateLimit(options.maxBytesPerSecond) : null;
    for (const volume of options.volumes) sent.push(await sendVolume(connection, failure, volume, awaitingAck, meter, limit));
    meter.allSent();
    await failure.race(acked);
    await failure.race(connection.finish());
    return sent;
  } catch (err) {
    const error = failure.error ?? (isTransferError(err) ? err : new TransferError('connection', errorMessage(err), { cause: err }));
    failure.fail(error);
    // What the destination said or decided needs no answer; anything else is told to it.
    if (isTransferError(error, 'peer-aborted') || isTransferError(error, 'refused') || isTransferError(error, 'checksum')) {
      connection?.socket.destroy();
    } else {
      connection?.abort(error.message);
    }
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}

async function sendVolume(
  connection: FrameSocket,
  failure: FirstFailure,
  volume: OutgoingVolume,
  awaitingAck: SentVolume[],
  meter: SendProgressMeter,
  limit: RateLimit | null,
): Promise<SentVolume> {
  const source = await failure.race(openSource(volume));
  const stopSource = () => source.destroy();
  failure.signal.addEventListener('abort', stopSource, { once: true });
  try {
    await failure.race(connection.write(encodeVolume(volume.id, volume.size)));
    meter.volumeStarted(volume.id);
    const hash = new LogicalHash();
    const chunks = source[Symbol.asyncIterator]();
    for (;;) {
      const next = await nextChunk(chunks, failure, volume);
      if (next.done) break;
      const chunk: unknown = next.value;
      if (isVolumeHole(chunk)) {
        if (chunk.hole === 0) continue;
        hash.hole(chunk.hole);
        await failure.race(connection.write(encodeHole(chunk.hole)));
        meter.hole(chunk.hole);
      } else if (chunk instanceof Uint8Array) {
        for (let at = 0; at < chunk.length; at += MAX_DATA_LENGTH) {
          const piece = chunk.subarray(at, at + MAX_DATA_LENGTH);
          if (limit) await failure.race(limit.take(piece.length));
          hash.data(piece);
          await failure.race(connection.write(encodeDataHeader(piece.length), piece));
          meter.data(piece.length);
        }
      } else {
        throw new TransferError('source', `volume ${volume.id}: the source gave ${typeof chunk}, not a Buffer or a { hole } object`);
      }
    }
    if (hash.logicalBytes !== volume.size) {
      throw new TransferError('source', `volume ${volume.id}: the source gave ${hash.logicalBytes} bytes, but its size is ${volume.size}`);
    }
    const sent: SentVolume = { id: volume.id, size: volume.size, ...hash.digest() };
    awaitingAck.push(sent); // before END is written: its ACK may come while the write waits for drain
    await failure.race(connection.write(encodeEnd(sent)));
    return sent;
  } finally {
    failure.signal.removeEventListener('abort', stopSource);
    if (!source.readableEnded) source.destroy();
  }
}

/** Reads the destination's ACKs, in volume order, until every volume is acknowledged as verified. */
async function readAcks(
  connection: FrameSocket,
  failure: FirstFailure,
  awaitingAck: SentVolume[],
  count: number,
  meter: SendProgressMeter,
): Promise<void> {
  for (let acked = 0; acked < count; acked++) {
    const frame = await nextFrame(connection, failure);
    if (frame === null) throw new TransferError('connection', `the destination closed the connection after ${acked} of ${count} volumes`);
    if (frame.type === 'abort') throw new TransferError('peer-aborted', `the destination aborted the transfer: ${frame.reason}`);
    if (frame.type !== 'ack') throw new TransferError('protocol', `expected ACK, got a ${frame.type.toUpperCase()} frame`);
    const sent = awaitingAck.shift();
    if (!sent || sent.id !== frame.id)
      throw new TransferError('protocol', `an ACK for volume "${frame.id}", expected ${sent ? sent.id : 'none'}`);
    if (frame.verdict !== 'verified') throw mismatch(sent, frame.verdict, sent, frame);
    meter.verified();
  }
}

async function openSource(volume: OutgoingVolume): Promise<Readable> {
  try {
    return await volume.open();
  } catch (err) {
    throw new TransferError('source', `cannot open the source of volume ${volume.id}: ${errorMessage(err)}`, { cause: err });
  }
}

async function nextChunk(chunks: AsyncIterator<unknown>, failure: FirstFailure, volume: OutgoingVolume): Promise<IteratorResult<unknown>> {
  try {
    return await failure.race(chunks.next());
  } catch (err) {
    if (failure.error) throw failure.error;
    throw new TransferError('source', `reading volume ${volume.id} failed: ${errorMessage(err)}`, { cause: err });
  }
}

async function nextFrame(connection: FrameSocket, failure: FirstFailure): Promise<Frame | null> {
  try {
    const next = await failure.race(connection.frames.next());
    return next.done ? null : next.value;
  } catch (err) {
    if (failure.error) throw failure.error;
    throw isTransferError(err) ? err : connection.lost();
  }
}

function connect(options: SendOptions, failure: FirstFailure): Promise<FrameSocket> {
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const where = `${options.address}:${options.port}`;
  return new Promise<FrameSocket>((resolve, reject) => {
    const socket = tlsConnect({
      host: options.address,
      port: options.port,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      ca: options.tls.ca,
      cert: options.tls.cert,
      key: options.tls.key,
      minVersion: 'TLSv1.3',
      checkServerIdentity: checkDestinationCertificate,
    });
    const timer = setTimeout(
      () => socket.destroy(new TransferError('deadline', `no TLS connection to ${where} within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    const stop = () => socket.destroy(failure.error ?? undefined);
    failure.signal.addEventListener('abort', stop, { once: true });
    const settle = () => {
      clearTimeout(timer);
      failure.signal.removeEventListener('abort', stop);
      socket.off('error', onError);
    };
    const onError = (err: Error & { code?: string }) => {
      settle();
      if (isTransferError(err)) reject(err);
      else if (err.code && REFUSAL_CODES.has(err.code)) {
        reject(
          new TransferError('refused', `the destination ${where} is not a peer this host may send to: ${err.message}`, { cause: err }),
        );
      } else reject(new TransferError('connection', `cannot connect to ${where}: ${err.message}`, { cause: err }));
    };
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      settle();
      resolve(new FrameSocket(socket, options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS));
    });
  });
}
