// Small helpers every layer shares: protobuf time and error messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorMessage, FerryError } from '../../shared/errors.js';
import { msFromProtoTime, optionalDuration, protoTimeFromMs } from '../../shared/proto-time.js';

test('protobuf Timestamp/Duration: milliseconds to seconds and nanos and back', () => {
  assert.deepEqual(protoTimeFromMs(1_700_000_123_456), { seconds: 1_700_000_123, nanos: 456_000_000 });
  assert.deepEqual(protoTimeFromMs(999), { seconds: 0, nanos: 999_000_000 });
  // In nanoseconds this one is 1.795e18, which a double cannot hold exactly (it came out as 249999872 ns).
  assert.deepEqual(protoTimeFromMs(1_795_336_200_250), { seconds: 1_795_336_200, nanos: 250_000_000 });
  assert.equal(msFromProtoTime({ seconds: '1700000123', nanos: 456_000_000 }), 1_700_000_123_456);
  assert.equal(msFromProtoTime(null), 0);
  for (const ms of [0, 1, 1500, 86_400_001]) {
    const t = protoTimeFromMs(ms);
    assert.equal(msFromProtoTime({ seconds: Number(t.seconds), nanos: t.nanos ?? 0 }), ms);
  }
  assert.deepEqual(protoTimeFromMs(0.0004), { seconds: 0, nanos: 400 }, 'fractions of a millisecond are kept, in whole nanos');
});

test('a request Duration: unset, whole units within range, or INVALID_ARGUMENT naming the field', () => {
  const refused = (pattern: RegExp) => (e: unknown) =>
    e instanceof FerryError && e.kind === 'INVALID_ARGUMENT' && e.details.field === 'policy.x' && pattern.test(e.message);
  assert.equal(optionalDuration('policy.x', null, 'ms', 1, 60_000), undefined);
  assert.equal(optionalDuration('policy.x', { seconds: 1, nanos: 500_000_000 }, 'ms', 1, 60_000), 1500);
  assert.equal(optionalDuration('policy.x', { seconds: '90', nanos: 0 }, 's', 0, 86_400), 90);
  assert.equal(optionalDuration('policy.x', { seconds: 0, nanos: 0 }, 's', 0, 86_400), 0);
  assert.throws(() => optionalDuration('policy.x', { seconds: -1, nanos: 0 }, 's', 0, 86_400), refused(/-1s is negative/));
  assert.throws(() => optionalDuration('policy.x', { seconds: 0, nanos: -5 }, 'ms', 0, 10), refused(/negative/));
  assert.throws(
    () => optionalDuration('policy.x', { seconds: 1, nanos: 1_000_000_000 }, 'ms', 1, 60_000),
    refused(/nanos must lie within/),
  );
  assert.throws(() => optionalDuration('policy.x', { seconds: 1, nanos: -1 }, 'ms', 1, 60_000), refused(/different signs/));
  assert.throws(
    () => optionalDuration('policy.x', { seconds: 1, nanos: 500_000_000 }, 's', 0, 86_400),
    refused(/not a whole number of seconds/),
  );
  assert.throws(
    () => optionalDuration('policy.x', { seconds: 0, nanos: 1 }, 'ms', 0, 60_000),
    refused(/not a whole number of milliseconds/),
  );
  assert.throws(
    () => optionalDuration('policy.x', { seconds: 61, nanos: 0 }, 'ms', 1, 60_000),
    refused(/61s is out of range: allowed 1-60000 ms/),
  );
  assert.throws(() => optionalDuration('policy.x', { seconds: 0, nanos: 0 }, 'ms', 1, 60_000), refused(/out of range/));
});

test("errorMessage: an Error's message, anything else as text", () => {
  assert.equal(errorMessage(new FerryError('NOT_FOUND', 'no VM x')), 'no VM x');
  assert.equal(errorMessage('plain'), 'plain');
  assert.equal(errorMessage(42), '42');
});
