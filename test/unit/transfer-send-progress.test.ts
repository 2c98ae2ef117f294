// The source's progress during a transfer (agent/transfer/send-progress.ts): counted at every
// frame, reported at each volume boundary and at most every interval in between, on a manual clock.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { SendProgressMeter, type SendProgress } from '../../agent/transfer/index.js';

it('reports volume boundaries at once and frames in between at most every interval', () => {
  let now = 0;
  const seen: SendProgress[] = [];
  const meter = new SendProgressMeter(
    (p) => seen.push(p),
    250,
    () => now,
  );
  meter.volumeStarted('vda');
  meter.data(100); // 0 ms after the boundary: not due
  now = 100;
  meter.hole(4096);
  now = 260;
  meter.data(50); // due
  meter.data(1);
  meter.volumeStarted('vdb');
  meter.verified();
  meter.allSent();
  meter.verified();
  assert.deepEqual(seen, [
    { current: 'vda', verified: 0, dataBytes: 0, holeBytes: 0 },
    { current: 'vda', verified: 0, dataBytes: 150, holeBytes: 4096 },
    { current: 'vdb', verified: 0, dataBytes: 151, holeBytes: 4096 },
    { current: 'vdb', verified: 1, dataBytes: 151, holeBytes: 4096 },
    { current: '', verified: 1, dataBytes: 151, holeBytes: 4096 },
    { current: '', verified: 2, dataBytes: 151, holeBytes: 4096 },
  ]);
});

it('gives each listener call its own copy, and survives a listener that throws', () => {
  const seen: SendProgress[] = [];
  const meter = new SendProgressMeter((p) => {
    seen.push(p);
    throw new Error('a broken progress bar');
  });
  meter.volumeStarted('vda');
  meter.verified();
  assert.equal(seen.length, 2);
  assert.notEqual(seen[0], seen[1]);
  assert.equal(seen[0]?.verified, 0);
  new SendProgressMeter(undefined).data(1); // no listener: nothing to call
});
