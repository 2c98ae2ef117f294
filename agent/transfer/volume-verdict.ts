// Whether the destination wrote the volume the source sent: the same logical size, the same
// data and hole byte counts, the same SHA-256 of the logical content.

import { TransferError } from './errors.js';
import type { AckVerdict, VolumeDigest } from './frames.js';

/** A volume the destination expects: the id it gave and its logical size in bytes. */
export interface IncomingVolume {
  id: string;
  size: number;
}

export function verdictOf(volume: IncomingVolume, sent: VolumeDigest, written: VolumeDigest): AckVerdict {
  if (
    written.dataBytes + written.holeBytes !== volume.size ||
    sent.dataBytes !== written.dataBytes ||
    sent.holeBytes !== written.holeBytes
  ) {
    return 'size-differs';
  }
  return sent.sha256.equals(written.sha256) ? 'verified' : 'checksum-differs';
}

export function mismatch(volume: IncomingVolume, verdict: AckVerdict, sent: VolumeDigest, written: VolumeDigest): TransferError {
  const what =
    verdict === 'size-differs'
      ? `sizes differ: the source sent ${sent.dataBytes} data + ${sent.holeBytes} hole bytes, the destination wrote ${written.dataBytes} + ${written.holeBytes} (volume size ${volume.size})`
      : `SHA-256 differs: the source's ${sent.sha256.toString('hex')}, the destination's ${written.sha256.toString('hex')}`;
  return new TransferError('checksum', `volume ${volume.id} did not verify: ${what}`);
}
