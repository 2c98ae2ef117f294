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

/** The logical content is hashed in blocks of this size (the last one may be shorter). */
export const HASH_BLOCK = 1024 * 1024;
/** Zeros fed to the hash for holes that do not cover a whole block: one shared buffer, never written. */
const ZEROS = Buffer.alloc(HASH_BLOCK);
/** SHA-256 of a block of zeros: what a hole covering a whole block adds, without hashing it. */
export const ZERO_BLOCK_SHA256 = createHash('sha256').update(ZEROS).digest();

/**
 * The checksum of a volume's logical content, data as it is and holes as the zeros they stand
 * for, so that a sparse and a dense copy of the same disk hash equal: the SHA-256 of the
 * SHA-256s of its 1 MiB blocks, in order (the last block as long as what is left). A hole that
 * covers whole blocks costs one precomputed digest per block instead of hashing its zeros, which
 * on a mostly empty disk would take longer than sending its data. Reproducible with coreutils:
 *   split -b 1048576 --filter='sha256sum | cut -c1-64 | tr a-f A-F | basenc --base16 -d' DISK | sha256sum
 * Counts data and hole bytes apart.
 */
export class LogicalHash {
  private readonly blocks: Hash = createHash('sha256');
  private block: Hash | null = null;
  private inBlock = 0;
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
    this.feed(bytes);
    this.dataBytes += bytes.length;
  }

  hole(length: number): void {
    let left = length;
    if (this.inBlock > 0) {
      const n = Math.min(left, HASH_BLOCK - this.inBlock);
      this.feed(ZEROS.subarray(0, n));
      left -= n;
    }
    for (; left >= HASH_BLOCK; left -= HASH_BLOCK) this.blocks.update(ZERO_BLOCK_SHA256);
    if (left > 0) this.feed(ZEROS.subarray(0, left));
    this.holeBytes += length;
  }

  digest(): { sha256: Buffer; dataBytes: number; holeBytes: number } {
    if (this.inBlock > 0) this.closeBlock();
    return { sha256: this.blocks.digest(), dataBytes: this.dataBytes, holeBytes: this.holeBytes };
  }

  /** Adds bytes to the current block, closing each block as it fills. */
  private feed(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length; ) {
      const n = Math.min(bytes.length - at, HASH_BLOCK - this.inBlock);
      this.block ??= createHash('sha256');
      this.block.update(bytes.subarray(at, at + n));
      this.inBlock += n;
      at += n;
      if (this.inBlock === HASH_BLOCK) this.closeBlock();
    }
  }

  private closeBlock(): void {
    this.blocks.update((this.block ?? createHash('sha256')).digest());
    this.block = null;
    this.inBlock = 0;
  }
}
