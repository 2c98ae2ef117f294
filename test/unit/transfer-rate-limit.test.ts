// The transfer's rate cap (rate-limit.ts) on a clock of the test's own: what it lets through, on
// average and in a burst, whatever the sizes taken, and a rate that changes while it runs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RateLimit } from '../../agent/transfer/rate-limit.js';

/** A clock that moves only when the limit sleeps. */
function fakeClock() {
  const clock = { now: 0, slept: 0 };
  const sleep = async (ms: number) => {
    clock.now += ms;
    clock.slept += ms;
  };
  return {
    clock,
    limit: (rate: number | (() => number)) => new RateLimit(typeof rate === 'number' ? () => rate : rate, () => clock.now, sleep),
  };
}

describe('transfer rate limit', () => {
  it('lets a tenth of a second of the rate through at once, then holds to the rate', async () => {
    const { clock, limit } = fakeClock();
    const cap = limit(1000); // bytes a second: the bucket holds 100
    await cap.take(100);
    assert.equal(clock.slept, 0, 'the first burst waits for nothing');
    await cap.take(100);
    assert.equal(clock.now, 100, '100 bytes more at 1000 B/s: 100 ms');
    for (let i = 0; i < 50; i++) await cap.take(20);
    assert.equal(clock.now, 1100, '1000 bytes more: one second more');
  });

  it('pieces larger than the bucket go into debt, so the average still holds', async () => {
    const { clock, limit } = fakeClock();
    const cap = limit(1000);
    for (let i = 0; i < 10; i++) await cap.take(500);
    // The first piece goes at once (the bucket was full) and leaves 400 bytes of debt; every next
    // one waits for that debt and its own bucket's worth: 500 ms each, so 1000 B/s on average.
    assert.equal(clock.now, 4500);
    await cap.take(500);
    assert.equal(clock.now, 5000, '5500 bytes by 5 s: the rate, plus one piece ahead');
  });

  it('a pause refills the bucket only up to its burst', async () => {
    const { clock, limit } = fakeClock();
    const cap = limit(1000);
    await cap.take(100);
    clock.now += 60_000; // idle for a minute
    await cap.take(100);
    assert.equal(clock.slept, 0);
    await cap.take(100);
    assert.equal(clock.slept, 100, 'the idle minute did not bank a minute of bytes');
  });

  it('takes a changed rate from the next piece on; 0 lets everything through', async () => {
    const { clock, limit } = fakeClock();
    let rate = 1000;
    const cap = limit(() => rate);
    await cap.take(100);
    await cap.take(100);
    assert.equal(clock.now, 100);
    rate = 10_000; // ChangeMigrationParams raised the cap
    for (let i = 0; i < 10; i++) await cap.take(100);
    assert.equal(clock.now, 200, '1000 bytes at 10 000 B/s: 100 ms more');
    rate = 0; // unlimited
    for (let i = 0; i < 100; i++) await cap.take(1_000_000);
    assert.equal(clock.now, 200);
    rate = 1000; // capped again: a full bucket, then the rate
    await cap.take(100);
    await cap.take(100);
    assert.equal(clock.now, 300);
  });
});
