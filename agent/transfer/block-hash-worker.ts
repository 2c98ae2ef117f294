// A hashing thread of block-hash-pool.ts: the SHA-256 of each block it is handed, the block's
// memory moved to it (transferred, not copied) and moved back with the digest, for the next block.

import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

export interface BlockJob {
  id: number;
  /** The block is its first `length` bytes. */
  memory: ArrayBuffer;
  length: number;
}

export interface BlockDigest {
  id: number;
  /** A copy of its own (32 bytes), not a Buffer of Node's shared pool, which posting would copy whole. */
  sha256: Uint8Array;
  memory: ArrayBuffer;
}

parentPort?.on('message', (job: BlockJob) => {
  const sha256 = Uint8Array.from(
    createHash('sha256')
      .update(new Uint8Array(job.memory, 0, job.length))
      .digest(),
  );
  parentPort?.postMessage({ id: job.id, sha256, memory: job.memory } satisfies BlockDigest, [job.memory]);
});
