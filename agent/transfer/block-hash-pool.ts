// Threads that hash a transfer's 1 MiB blocks, so that on each end the main thread is left with
// TLS and the socket: SHA-256 (about 1.7 GB/s a core with SHA-NI) otherwise costs that thread more
// than AES-GCM does, and one connection would go no faster than one core can hash and encrypt.
// A block's memory moves to the thread and back (a transfer, not a copy). Not SharedArrayBuffers:
// V8 fills those with a relaxed-atomic copy, byte by byte when source and block are not aligned
// alike (a DATA frame's bytes start 5 bytes into it), which cost half as much as the hash itself.
// Workers start with the first block, and are unref'd: the transfer's socket keeps the process
// alive, a forgotten pool does not.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { BlockDigest, BlockJob } from './block-hash-worker.js';
import { TransferError } from './errors.js';

/** One thread fewer than the cores (the main thread has TLS to do), at least one, at most four: 4 × 1.7 GB/s is beyond 40 Gbit/s. */
export function defaultHashThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

/** A block's digest, and its memory back for the next block. */
export interface HashedBlock {
  sha256: Buffer;
  memory: ArrayBuffer;
}

interface Waiting {
  resolve(done: HashedBlock): void;
  reject(err: Error): void;
}

export class BlockHashPool {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 0;
  private failure: TransferError | null = null;
  private closed = false;

  constructor(readonly threads: number = defaultHashThreads()) {
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`a hash pool needs 1 or more threads, not ${threads}`);
  }

  /** The SHA-256 of the first `length` bytes of `memory`, which is moved to a thread (detached here) and given back. */
  hash(memory: ArrayBuffer, length: number): Promise<HashedBlock> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new TransferError('internal', 'the transfer hash pool is closed'));
    const id = this.nextId++;
    const worker = this.workerFor(id);
    return new Promise<HashedBlock>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, memory, length } satisfies BlockJob, [memory]);
    });
  }

  /** Stops the threads; blocks still waiting fail. */
  async close(): Promise<void> {
    this.closed = true;
    this.failAll(new TransferError('internal', 'the transfer hash pool was closed with blocks still being hashed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }

  /** Round robin: every block is the same size, so the threads stay evenly loaded. */
  private workerFor(id: number): Worker {
    if (this.workers.length < this.threads) return this.start();
    return this.workers[id % this.threads] as Worker;
  }

  private start(): Worker {
    const worker = new Worker(new URL('./block-hash-worker.js', import.meta.url));
    worker.unref();
    worker.on('message', (done: BlockDigest) => {
      const waiting = this.waiting.get(done.id);
      this.waiting.delete(done.id);
      waiting?.resolve({ sha256: Buffer.from(done.sha256.buffer, done.sha256.byteOffset, done.sha256.byteLength), memory: done.memory });
    });
    worker.on('error', (err) => this.fail(`a hashing thread failed: ${err.message}`, err));
    worker.on('exit', (code) => {
      if (!this.closed) this.fail(`a hashing thread exited (code ${code})`);
    });
    this.workers.push(worker);
    return worker;
  }

  private fail(message: string, cause?: Error): void {
    this.failure ??= new TransferError('internal', message, { cause });
    this.failAll(this.failure);
  }

  private failAll(err: Error): void {
    for (const waiting of this.waiting.values()) waiting.reject(err);
    this.waiting.clear();
  }
}
