// Threads that hash a transfer's 1 MiB blocks, so that on each end the main thread is left with
// TLS and the socket: SHA-256 (about 1.6 GiB/s a core with SHA-NI) otherwise costs that thread more
// than AES-GCM does, and one connection would go no faster than one core can hash and encrypt.
// A block travels in pieces of 256 KiB (a DATA frame's worth), so that what waits for a thread
// stays about a frame, as the rest of the transfer's buffering does (README.md, Back-pressure and
// memory); every piece of a block goes to the same thread, blocks go round robin. A piece's
// memory moves to the thread and back (a transfer, not a copy). Not SharedArrayBuffers: V8 fills
// those with a relaxed-atomic copy, byte by byte when source and piece are not aligned alike (a
// DATA frame's bytes start 5 bytes into it), which cost half as much as the hash itself.
// Threads boot in start() (each takes about 30 ms of CPU, so the ends start them before the
// handshake, not with the first block), else with the first piece; they are unref'd: the
// transfer's socket keeps the process alive, a forgotten pool does not.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { PieceDone, PieceJob } from './block-hash-worker.js';
import { TransferError } from './errors.js';

/** The most bytes of a block handed to a thread at once. */
export const HASH_PIECE = 256 * 1024;

/**
 * One thread fewer than the cores (the main thread has TLS to do), at least one, at most two: one
 * thread hashes about 1.6 GiB/s, twice what the main thread gets through TLS (README.md,
 * Throughput), so a second is headroom and more would only hold memory (8–12 MB of RSS each).
 */
export function defaultHashThreads(): number {
  return Math.max(1, Math.min(2, availableParallelism() - 1));
}

/** A piece hashed: its memory back for the next piece, and the block's digest if it was the last. */
export interface HashedPiece {
  memory: ArrayBuffer;
  sha256: Buffer | null;
}

interface Waiting {
  resolve(done: HashedPiece): void;
  reject(err: Error): void;
}

interface Thread {
  worker: Worker;
  /** Its pieces not yet answered, in the order sent: a thread answers in order. */
  waiting: Waiting[];
}

export class BlockHashPool {
  private readonly threadsStarted: Thread[] = [];
  private failure: TransferError | null = null;
  private closed = false;

  constructor(readonly threads: number = defaultHashThreads()) {
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`a hash pool needs 1 or more threads, not ${threads}`);
  }

  /** Boots every thread now, so that the first pieces need not wait for one. */
  start(): this {
    while (!this.closed && this.threadsStarted.length < this.threads) this.spawn();
    return this;
  }

  /**
   * Hashes the first `length` bytes of `memory` (moved to the thread: detached here until given
   * back) as the next piece of block number `block`; `last` ends the block and asks its digest.
   * Blocks must be numbered 0, 1, 2… and each one's pieces sent before the next block's.
   */
  hash(block: number, memory: ArrayBuffer, length: number, last: boolean): Promise<HashedPiece> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new TransferError('internal', 'the transfer hash pool is closed'));
    this.start();
    const thread = this.threadsStarted[block % this.threads] as Thread;
    return new Promise<HashedPiece>((resolve, reject) => {
      thread.waiting.push({ resolve, reject });
      thread.worker.postMessage({ memory, length, last } satisfies PieceJob, [memory]);
    });
  }

  /** Stops the threads; pieces still waiting fail. */
  async close(): Promise<void> {
    this.closed = true;
    this.failAll(new TransferError('internal', 'the transfer hash pool was closed with blocks still being hashed'));
    await Promise.all(this.threadsStarted.map((t) => t.worker.terminate()));
    this.threadsStarted.length = 0;
  }

  private spawn(): void {
    const worker = new Worker(new URL('./block-hash-worker.js', import.meta.url));
    const thread: Thread = { worker, waiting: [] };
    worker.unref();
    worker.on('message', (done: PieceDone) => {
      const sha256 = done.sha256 && Buffer.from(done.sha256.buffer, done.sha256.byteOffset, done.sha256.byteLength);
      thread.waiting.shift()?.resolve({ memory: done.memory, sha256 });
    });
    worker.on('error', (err) => this.fail(`a hashing thread failed: ${err.message}`, err));
    worker.on('exit', (code) => {
      if (!this.closed) this.fail(`a hashing thread exited (code ${code})`);
    });
    this.threadsStarted.push(thread);
  }

  private fail(message: string, cause?: Error): void {
    this.failure ??= new TransferError('internal', message, { cause });
    this.failAll(this.failure);
  }

  private failAll(err: Error): void {
    for (const thread of this.threadsStarted) {
      for (const waiting of thread.waiting) waiting.reject(err);
      thread.waiting.length = 0;
    }
  }
}
