// A hashing thread of block-hash-pool.ts: hashes the pieces of each 1 MiB block it is handed, in
// order (a port delivers in order, and every piece of a block comes to the same thread), and
// gives back each piece's memory (moved, not copied) for the next piece, with the block's SHA-256
// when the piece was its last.

import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

export interface PieceJob {
  /** The piece is the first `length` bytes. */
  memory: ArrayBuffer;
  length: number;
  /** The last piece of its block: the block's digest is wanted. */
  last: boolean;
}

export interface PieceDone {
  memory: ArrayBuffer;
  /** The block's SHA-256 after its last piece: a copy of its own (32 bytes), not a view of Node's shared pool, which posting would copy whole. */
  sha256: Uint8Array | null;
}

let block: Hash | null = null;

parentPort?.on('message', (job: PieceJob) => {
  block ??= createHash('sha256');
  block.update(new Uint8Array(job.memory, 0, job.length));
  let sha256: Uint8Array | null = null;
  if (job.last) {
    sha256 = Uint8Array.from(block.digest());
    block = null;
  }
  parentPort?.postMessage({ memory: job.memory, sha256 } satisfies PieceDone, [job.memory]);
});
