// The checksum of a volume's logical content (agent/transfer/volume-chunks.ts): the SHA-256 of
// its 1 MiB blocks' SHA-256s, holes as the zeros they stand for, checked against FIPS 180-2's
// "abc" vector and against coreutils (split, sha256sum) over the same content written out dense;
// the destination's verdict; the token comparison.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { createTransferToken, tokenMatches } from '../../agent/transfer/transfer-token.js';
import { LogicalHash, isVolumeHole } from '../../agent/transfer/volume-chunks.js';
import { verdictOf } from '../../agent/transfer/volume-verdict.js';
import { checksumOfBytes } from '../support/transfer-volumes.js';

describe('transfer checksum: LogicalHash', () => {
  it('of one short block is the SHA-256 of its SHA-256 (FIPS 180-2 "abc")', () => {
    const h = new LogicalHash();
    h.add(Buffer.from('a'));
    h.add(Buffer.from('bc'));
    const abc = Buffer.from('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'hex');
    assert.deepEqual(h.digest().sha256, createHash('sha256').update(abc).digest());
  });

  it('of nothing is the SHA-256 of nothing', () => {
    assert.equal(new LogicalHash().digest().sha256.toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('equals coreutils over blocks cut anywhere by chunks and holes', () => {
    const content = randomBytes(3 * 1024 * 1024 + 100);
    content.fill(0, 1_500_000, 2_800_000); // zeros across a block boundary, sent as a hole below
    const h = new LogicalHash();
    for (let at = 0; at < 1_500_000; at += 77_777) h.add(content.subarray(at, Math.min(at + 77_777, 1_500_000)));
    h.add({ hole: 1_300_000 });
    h.add(content.subarray(2_800_000));
    assert.equal(h.digest().sha256.toString('hex'), checksumOfBytes(content));
  });

  it('hashes holes as zeros, so a sparse and a dense copy hash equal', () => {
    const head = randomBytes(1000);
    const tail = randomBytes(4097);
    const holeLength = 3 * 1024 * 1024 + 7; // a partial block, whole blocks of zeros, a partial block
    const sparse = new LogicalHash();
    sparse.add(head);
    sparse.add({ hole: holeLength });
    sparse.add(tail);
    sparse.add({ hole: 5 });
    const dense = Buffer.concat([head, Buffer.alloc(holeLength), tail, Buffer.alloc(5)]);
    const denseHash = new LogicalHash();
    denseHash.add(dense);

    const a = sparse.digest();
    const b = denseHash.digest();
    assert.equal(a.sha256.toString('hex'), checksumOfBytes(dense));
    assert.deepEqual(a.sha256, b.sha256);
    assert.deepEqual([a.dataBytes, a.holeBytes], [5097, holeLength + 5]);
    assert.deepEqual([b.dataBytes, b.holeBytes], [dense.length, 0]);
  });

  it('tells content apart: one flipped byte, or zeros moved, change the hash', () => {
    const data = randomBytes(4096);
    const flipped = Buffer.from(data);
    flipped[100] = (flipped[100] ?? 0) ^ 1;
    const of = (...chunks: Array<Buffer | { hole: number }>) => {
      const h = new LogicalHash();
      for (const c of chunks) h.add(c);
      return h.digest().sha256.toString('hex');
    };
    assert.notEqual(of(data), of(flipped));
    assert.notEqual(of(data, { hole: 10 }), of({ hole: 10 }, data));
  });

  it('knows holes from buffers', () => {
    assert.equal(isVolumeHole({ hole: 3 }), true);
    assert.equal(isVolumeHole(Buffer.from('x')), false);
    assert.equal(isVolumeHole(new Uint8Array(3)), false);
    assert.equal(isVolumeHole(null), false);
  });
});

describe('transfer checksum: the destination verdict', () => {
  const sha = Buffer.alloc(32, 1);
  const volume = { id: 'vda', size: 100 };
  it('verifies the same hash and counts adding up to the size', () => {
    assert.equal(
      verdictOf(volume, { sha256: sha, dataBytes: 60, holeBytes: 40 }, { sha256: Buffer.from(sha), dataBytes: 60, holeBytes: 40 }),
      'verified',
    );
  });
  it('finds a different hash, different counts, or a total that is not the size', () => {
    const sent = { sha256: sha, dataBytes: 60, holeBytes: 40 };
    assert.equal(verdictOf(volume, sent, { ...sent, sha256: Buffer.alloc(32, 2) }), 'checksum-differs');
    assert.equal(verdictOf(volume, sent, { ...sent, dataBytes: 59, holeBytes: 41 }), 'size-differs');
    assert.equal(verdictOf({ id: 'vda', size: 101 }, sent, sent), 'size-differs');
  });
});

describe('transfer token', () => {
  it('is 32 random bytes, matched only by itself', () => {
    const a = createTransferToken();
    const b = createTransferToken();
    assert.equal(a.length, 32);
    assert.notDeepEqual(a, b);
    assert.equal(tokenMatches(a, Buffer.from(a)), true);
    assert.equal(tokenMatches(a, b), false);
    assert.equal(tokenMatches(a, a.subarray(0, 31)), false);
    assert.equal(tokenMatches(Buffer.alloc(0), Buffer.alloc(0)), false);
  });
});
