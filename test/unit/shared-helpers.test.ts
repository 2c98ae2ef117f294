// Small helpers every layer shares: protobuf time and error messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorMessage, FerryError } from '../../shared/errors.js';
import { msFromProtoTime, protoTimeFromMs } from '../../shared/proto-time.js';

test('protobuf Timestamp/Duration: milliseconds to seconds and nanos and back', () => {
  assert.deepEqual(protoTimeFromMs(1_700_000_123_456), { seconds: 1_700_000_123, nanos: 456_000_000 });
  assert.deepEqual(protoTimeFromMs(999), { seconds: 0, nanos: 999_000_000 });
  assert.equal(msFromProtoTime({ seconds: '1700000123', nanos: 456_000_000 }), 1_700_000_123_456);
  assert.equal(msFromProtoTime(null), 0);
  for (const ms of [0, 1, 1500, 86_400_001]) {
    const t = protoTimeFromMs(ms);
    assert.equal(msFromProtoTime({ seconds: Number(t.seconds), nanos: t.nanos ?? 0 }), ms);
  }
});

test("errorMessage: an Error's message, anything else as text", () => {
  assert.equal(errorMessage(new FerryError('NOT_FOUND', 'no VM x')), 'no VM x');
  assert.equal(errorMessage('plain'), 'plain');
  assert.equal(errorMessage(42), '42');
});
