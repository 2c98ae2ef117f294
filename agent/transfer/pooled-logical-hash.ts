// The checksum of volume-chunks.ts's LogicalHash (the SHA-256 of the SHA-256s of a volume's 1 MiB
// blocks, holes as zeros), with the blocks hashed on a BlockHashPool instead of the main thread.
// The bytes are copied into pieces of memory as they are added (a memcpy, several times faster
// than the hash it moves away), so the caller may reuse or hand on its buffer at once: the source
// writes it to the socket, the destination's sink keeps it. The block digests are folded in block
// order whichever thread finishes first. Few pieces wait for a thread: callers wait for room()
// before adding, so memory stays bounded when the threads fall behind.

import { createHash } from 'node:crypto';
import { HASH_PIECE, type BlockHashPool } from './block-hash-pool.js';
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
  /** The piece being filled, its bytes so far, and the block's. */
  private piece: Buffer | null = null;
  private inPiece = 0;
  private inBlock = 0;
  private blockNumber = 0;
  /** Block digests not yet folded, in block order. */
  private readonly order: Pending[] = [];
  /** Memory of pieces hashed, for the next ones (fresh memory costs page faults). */
  private readonly spare: ArrayBuffer[] = [];
  private hashing = 0;
  /** Pieces that may wait for a thread before room() waits: two a thread, one hashed and one next. */
  private readonly backlog: number;
  private failure: Error | null = null;
  /** The checks of the waits in progress (room() and digest()), run whenever a piece is hashed. */
  private readonly waits = new Set<() => void>();

  constructor(private readonly pool: BlockHashPool) {
    this.backlog = 2 * pool.threads;
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
      const n = this.room1(bytes.length - at);
      this.openPiece().set(bytes.subarray(at, at + n), this.inPiece);
      at += n;
      this.advance(n);
    }
    this.dataBytes += bytes.length;
  }

  hole(length: number): void {
    for (let left = length; left > 0; ) {
      if (this.inBlock === 0 && left >= HASH_BLOCK) {
        // Whole blocks of zeros: a precomputed digest each, a run of them one entry.
        const whole = Math.floor(left / HASH_BLOCK);
        const last = this.order.at(-1);
        if (last?.sha256 === ZERO_BLOCK_SHA256) last.times += whole;
        else this.order.push({ sha256: ZERO_BLOCK_SHA256, times: whole });
        this.blockNumber += whole;
        this.fold();
        left -= whole * HASH_BLOCK;
        continue;
      }
      // Zeros inside a block (a spare piece holds old bytes).
      const n = this.room1(left);
      this.openPiece().fill(0, this.inPiece, this.inPiece + n);
      left -= n;
      this.advance(n);
    }
    this.holeBytes += length;
  }

  /** Resolves once fewer than `backlog` pieces wait for a thread; rejects if hashing failed. */
  room(): Promise<void> {
    return this.until(() => this.hashing < this.backlog);
  }

  /** Hashes the last, shorter block, waits for every block, and gives the volume's checksum. */
  async digest(): Promise<VolumeDigest> {
    if (this.inBlock > 0) this.post(true);
    await this.until(() => this.hashing === 0);
    return { sha256: this.blocks.digest(), dataBytes: this.dataBytes, holeBytes: this.holeBytes };
  }

  /** How many of `left` bytes fit in the piece and the block in progress. */
  private room1(left: number): number {
    return Math.min(left, HASH_PIECE - this.inPiece, HASH_BLOCK - this.inBlock);
  }

  private openPiece(): Buffer {
    this.piece ??= Buffer.from(this.spare.pop() ?? new ArrayBuffer(HASH_PIECE));
    return this.piece;
  }

  /** Counts `n` bytes into the piece and the block; hands the piece on when either is full. */
  private advance(n: number): void {
    this.inPiece += n;
    this.inBlock += n;
    if (this.inBlock === HASH_BLOCK) this.post(true);
    else if (this.inPiece === HASH_PIECE) this.post(false);
  }

  /** Hands the piece in progress to the pool, with the block's slot in the fold if it is its last. */
  private post(last: boolean): void {
    const piece = this.openPiece();
    const entry: Pending | null = last ? { sha256: null, times: 1 } : null;
    if (entry) this.order.push(entry);
    this.hashing += 1;
    this.pool.hash(this.blockNumber, piece.buffer as ArrayBuffer, this.inPiece, last).then(
      (done) => {
        if (entry) entry.sha256 = done.sha256;
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
    this.piece = null;
    this.inPiece = 0;
    if (last) {
      this.inBlock = 0;
      this.blockNumber += 1;
    }
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
