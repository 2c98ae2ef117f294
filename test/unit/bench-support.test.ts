// The benchmarks' arithmetic: percentiles, spreads, the aligned table, and
// the busy span of a NIC counter that throughput is measured over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median, percentile, spread, table } from '../bench/bench-support.js';
import { busyWindow } from '../bench/nic-sampler.js';

test('percentiles interpolate between closest ranks; median of an even count is the mean of the middle two', () => {
  assert.equal(percentile([5, 1, 3, 2, 4], 50), 3);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(percentile([1, 2, 3, 4, 5], 99), 4.96);
  assert.equal(percentile([7], 99), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.deepEqual(spread([2100, 1980, 2033, 2010, 1995]), { median: 2010, min: 1980, max: 2100, iqr: 38 });
});

test('the table right-aligns columns of numbers, "-" included', () => {
  const lines = table(
    ['name', 'ms'],
    [
      ['a', 5],
      ['bbb', '-'],
      ['cc', 12.5],
    ],
  ).split('\n');
  assert.deepEqual(lines, ['name    ms', '----  ----', 'a        5', 'bbb      -', 'cc    12.5']);
});

test('the busy window spans the intervals above the threshold, bytes over their time', () => {
  const at = (s: number, mb: number) => ({ at: 1000 + s * 1000, bytes: mb * 1e6 });
  // idle, 2 s at 125 MB/s (1 Gbit/s), a slow tail, idle
  const samples = [at(0, 0), at(1, 0.01), at(2, 125.01), at(3, 250.01), at(4, 251), at(5, 251)];
  const w = busyWindow(samples, 1e8)!;
  assert.equal(w.seconds, 2);
  assert.equal(Math.round(w.bitsPerS / 1e6), 1000);
  assert.equal(busyWindow(samples, 2e9), undefined);
});
