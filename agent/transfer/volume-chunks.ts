// What a volume's stream carries on either side of the transfer: Buffer chunks of data and
// { hole: length } objects, the shape of the libvirt client's sparse download and upload streams
// (agent/libvirt/README.md, "Storage and streams"), declared here so that this folder imports
// nothing of libvirt.

import { createHash, type Hash } from 'node:crypto';

export interface VolumeHole {
  hole: number;
}

export type VolumeChunk = Buffer | VolumeHole;

export function isVolumeHole(chunk: unknown): chunk is VolumeHole {
  return typeof chunk === 'object' && chunk !== null && !ArrayBuffer.isView(chunk) && typeof (chunk as VolumeHole).hole === 'number';
}

/** Zeros fed to the hash for holes: one shared buffer, never written. */
const ZEROS = Buffer.alloc(1024 * 1024);

/**
 * SHA-256 of a volume's logical content: data as it is and holes as the zeros they stand for, so
 * a sparse copy and a dense copy of the same disk hash the same. Counts data and hole bytes apart.
 */
export class LogicalHash {
  private readonly hash: Hash = createHash('sha256');
  dataBytes = 0;
  holeBytes = 0;

  get logicalBytes(): number {
    return this.dataBytes + this.holeBytes;
  }

  add(chunk: VolumeChunk): void {
    if (isVolumeHole(chunk)) this.hole(chunk.hole);
    else this.data(chunk);
  }

  data(bytes: Uint8Array): void {
    this.hash.update(bytes);
    this.dataBytes += bytes.length;
  }

  hole(length: number): void {
    for (let left = length; left > 0; left -= ZEROS.length) this.hash.update(ZEROS.subarray(0, Math.min(left, ZEROS.length)));
    this.holeBytes += length;
  }

  digest(): { sha256: Buffer; dataBytes: number; holeBytes: number } {
    return { sha256: this.hash.digest(), dataBytes: this.dataBytes, holeBytes: this.holeBytes };
  }
}
