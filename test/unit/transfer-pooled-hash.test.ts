// The checksum hashed on threads (agent/transfer/pooled-logical-hash.ts, block-hash-pool.ts): the
// same value as LogicalHash and coreutils however the content is cut into chunks and holes, with
// one thread and with several (whose blocks may finish out of order), when block memory is reused
// after a hole, and a pool that is gone fails the digest instead of hanging.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { BlockHashPool, HASH_PIECE } from '../../agent/transfer/block-hash-pool.js';
import { isTransferError } from '../../agent/transfer/errors.js';
import { PooledLogicalHash } from '../../agent/transfer/pooled-logical-hash.js';
import { LogicalHash, type VolumeChunk } from '../../agent/transfer/volume-chunks.js';
import { checksumOfBytes } from '../support/transfer-volumes.js';

const MiB = 1024 * 1024;
const pools: BlockHashPool[] = [];

after(() => Promise.all(pools.map((p) => p.close())));

function pool(threads: number): BlockHashPool {
  const p = new BlockHashPool(threads);
  pools.push(p);
  return p;
}

/** Content with zero runs, and the chunks that cut it: data chunks of random lengths, the zero runs as holes. */
function randomVolume(seed: number, size: number): { dense: Buffer; chunks: VolumeChunk[] } {
  let x = seed;
  const next = (n: number) => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x % n;
  };
  const dense = randomBytes(size);
  const chunks: VolumeChunk[] = [];
  for (let at = 0; at < size; ) {
    const n = Math.min(size - at, 1 + next(700_000));
    if (next(3) === 0) {
      dense.fill(0, at, at + n);
      chunks.push({ hole: n });
    } else {
      chunks.push(dense.subarray(at, at + n));
    }
    at += n;
  }
  return { dense, chunks };
}

async function pooledDigest(threads: BlockHashPool, chunks: VolumeChunk[]) {
  const hash = new PooledLogicalHash(threads);
  for (const chunk of chunks) {
    await hash.room();
    hash.add(chunk);
  }
  return hash.digest();
}

describe('transfer checksum on threads: PooledLogicalHash', () => {
  for (const threads of [1, 3]) {
    it(`equals LogicalHash and coreutils over random chunks and holes (${threads} thread${threads > 1 ? 's' : ''})`, async () => {
      for (const seed of [1, 2, 3]) {
        const { dense, chunks } = randomVolume(seed, 9 * MiB + seed * 1000);
        const reference = new LogicalHash();
        for (const chunk of chunks) reference.add(chunk);
        const expected = reference.digest();
        const got = await pooledDigest(pool(threads), chunks);
        assert.equal(got.sha256.toString('hex'), checksumOfBytes(dense), `seed ${seed}`);
        assert.deepEqual(got, expected, `seed ${seed}`);
      }
    });
  }

  it('zeros a hole inside a block whose memory held earlier bytes', async () => {
    const data = randomBytes(2 * MiB);
    const chunks: VolumeChunk[] = [data.subarray(0, MiB), data.subarray(MiB), { hole: 5000 }, Buffer.from('tail')];
    const hash = new PooledLogicalHash(pool(1));
    for (const chunk of chunks) {
      await hash.room();
      hash.add(chunk);
    }
    const dense = Buffer.concat([data, Buffer.alloc(5000), Buffer.from('tail')]);
    assert.equal((await hash.digest()).sha256.toString('hex'), checksumOfBytes(dense));
  });

  it('folds a run of whole-block holes after a block still being hashed, in order', async () => {
    const head = randomBytes(MiB);
    const tail = randomBytes(10);
    const hash = new PooledLogicalHash(pool(2));
    hash.add(head); // posted, not hashed yet
    hash.add({ hole: 4 * MiB });
    hash.add(tail);
    const got = await hash.digest();
    assert.equal(got.sha256.toString('hex'), checksumOfBytes(Buffer.concat([head, Buffer.alloc(4 * MiB), tail])));
    assert.deepEqual([got.dataBytes, got.holeBytes], [MiB + 10, 4 * MiB]);
  });

  it('gives the SHA-256 of nothing for an empty volume, without a thread', async () => {
    const p = pool(1);
    const got = await new PooledLogicalHash(p).digest();
    assert.equal(got.sha256.toString('hex'), createHash('sha256').digest('hex'));
  });

  it('fails the digest when its pool is closed, instead of waiting for it', async () => {
    const p = pool(1);
    const hash = new PooledLogicalHash(p);
    await p.close();
    hash.add(randomBytes(MiB + 1));
    await assert.rejects(hash.digest(), (err) => isTransferError(err, 'internal'));
  });
});

describe('transfer checksum on threads: BlockHashPool', () => {
  it('hashes a block in pieces on a thread, giving back the memory of each and the digest with the last', async () => {
    const threads = pool(2);
    const first = new ArrayBuffer(HASH_PIECE);
    new Uint8Array(first).set(Buffer.from('ab'));
    const second = new ArrayBuffer(HASH_PIECE);
    new Uint8Array(second).set(Buffer.from('c'));
    const [a, b] = await Promise.all([threads.hash(0, first, 2, false), threads.hash(0, second, 1, true)]);
    assert.equal(first.byteLength, 0, 'moved to the thread, not copied');
    assert.equal(a.sha256, null);
    assert.equal(a.memory.byteLength, HASH_PIECE);
    assert.equal(b.sha256?.toString('hex'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('refuses a pool of no threads', () => {
    assert.throws(() => new BlockHashPool(0), RangeError);
  });
});
