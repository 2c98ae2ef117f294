// The checksum of volume-chunks.ts's LogicalHash (the SHA-256 of the SHA-256s of a volume's 1 MiB
// blocks, holes as zeros), with the blocks hashed on a BlockHashPool instead of the main thread.
// The bytes are copied into 1 MiB blocks as they are added (a memcpy, several times faster
// than the hash it moves away), so the caller may reuse or hand on its buffer at once:
// the source writes it to the socket, the destination's sink keeps it. The block digests are
// folded in block order whichever thread finishes first. A bounded number of blocks wait for
// their hash: callers wait for room() before adding, so memory stays bounded when the threads
// fall behind.

import { createHash } from 'node:crypto';
import type { BlockHashPool } from './block-hash-pool.js';
import type { VolumeDigest } from './frames.js';
import { HASH_BLOCK, ZERO_BLOCK_SHA256, isVolumeHole, type VolumeChunk } from './volume-chunks.js';

/** A block's place in the fold: its digest once known, `times` in a row (a run of whole-block holes is one entry). */
interface Pending {
  sha256: Buffer | null;
  times: number;
}

export class PooledLogicalHash {
  dataBytes = 0;
  holeBytes = 0;
  private readonly blocks = createHash('sha256');
  private block: Buffer | null = null;
  private inBlock = 0;
  /** Digests not yet folded, in block order. */
  private readonly order: Pending[] = [];
  /** Memory of blocks whose hash is done, for the next ones (fresh memory costs page faults). */
  private readonly spare: ArrayBuffer[] = [];
  private hashing = 0;
  private failure: Error | null = null;
  /** The checks of the waits in progress (room() and digest()), run whenever a block is hashed. */
  private readonly waits = new Set<() => void>();

  /**
   * Blocks that may wait for their hash before room() waits: one per thread, while this thread
   * fills the next. More would only hold memory: when they wait, the threads are the bottleneck.
   */
  private readonly backlog: number;

  constructor(private readonly pool: BlockHashPool) {
    this.backlog = pool.threads;
  }

  get logicalBytes(): number {
    return this.dataBytes + this.holeBytes;
  }

  /** Never throws and never waits (a sink's write callback calls it); a failure shows in room() and digest(). */
  add(chunk: VolumeChunk): void {
    if (isVolumeHole(chunk)) this.hole(chunk.hole);
    else this.data(chunk);
  }

  data(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length; ) {
      const block = this.openBlock();
      const n = Math.min(bytes.length - at, HASH_BLOCK - this.inBlock);
      block.set(bytes.subarray(at, at + n), this.inBlock);
      this.inBlock += n;
      at += n;
      if (this.inBlock === HASH_BLOCK) this.closeBlock();
    }
    this.dataBytes += bytes.length;
  }

  hole(length: number): void {
    let left = length;
    if (this.inBlock > 0) left -= this.zeros(Math.min(left, HASH_BLOCK - this.inBlock));
    const whole = Math.floor(left / HASH_BLOCK);
    if (whole > 0) {
      const last = this.order.at(-1);
      if (last?.sha256 === ZERO_BLOCK_SHA256) last.times += whole;
      else this.order.push({ sha256: ZERO_BLOCK_SHA256, times: whole });
      this.fold();
      left -= whole * HASH_BLOCK;
    }
    if (left > 0) this.zeros(left);
    this.holeBytes += length;
  }

  /** Resolves once fewer than `backlog` blocks wait for their hash; rejects if hashing failed. */
  room(): Promise<void> {
    return this.until(() => this.hashing < this.backlog);
  }

  /** Hashes the last, shorter block, waits for every block, and gives the volume's checksum. */
  async digest(): Promise<VolumeDigest> {
    if (this.inBlock > 0) this.closeBlock();
    await this.until(() => this.hashing === 0);
    return { sha256: this.blocks.digest(), dataBytes: this.dataBytes, holeBytes: this.holeBytes };
  }

  private openBlock(): Buffer {
    this.block ??= Buffer.from(this.spare.pop() ?? new ArrayBuffer(HASH_BLOCK));
    return this.block;
  }

  /** Zeros for a hole inside a block (a spare block holds old bytes). */
  private zeros(n: number): number {
    this.openBlock().fill(0, this.inBlock, this.inBlock + n);
    this.inBlock += n;
    if (this.inBlock === HASH_BLOCK) this.closeBlock();
    return n;
  }

  private closeBlock(): void {
    const block = this.openBlock();
    const entry: Pending = { sha256: null, times: 1 };
    this.order.push(entry);
    this.hashing += 1;
    this.pool.hash(block.buffer as ArrayBuffer, this.inBlock).then(
      (done) => {
        entry.sha256 = done.sha256;
        this.spare.push(done.memory);
        this.hashing -= 1;
        this.fold();
        this.wakeAll();
      },
      (err: Error) => {
        this.failure ??= err;
        this.hashing -= 1;
        this.wakeAll();
      },
    );
    this.block = null;
    this.inBlock = 0;
  }

  /** Folds the digests at the head of the order that are known. */
  private fold(): void {
    for (let head = this.order[0]; head?.sha256; head = this.order[0]) {
      for (let i = 0; i < head.times; i++) this.blocks.update(head.sha256);
      this.order.shift();
    }
  }

  private wakeAll(): void {
    for (const check of [...this.waits]) check();
  }

  private until(done: () => boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (this.failure) reject(this.failure);
        else if (done()) resolve();
        else return;
        this.waits.delete(check);
      };
      this.waits.add(check);
      check();
    });
  }
}
