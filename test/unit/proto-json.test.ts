// Canonical proto3 JSON (shared/proto-json.ts) of messages as proto-loader
// delivers them: what grpcurl and every language's JSON printer give. An
// independent parser (Python's json_format) checks ferryctl's output in
// test/integration/ferryctl-calls.test.ts; these pin the rules one by one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadFerryProto } from '../../shared/proto.js';
import { formatProto3Json, toProto3Json } from '../../shared/proto-json.js';

/** A message as a client receives it: encoded by proto-loader, decoded with the project's loader options. */
function received(method: 'GetMigrationStatus' | 'WatchHost', response: object): object {
  const definition = loadFerryProto().definition;
  const service = method === 'WatchHost' ? 'ferry.v1.HostService' : 'ferry.v1.MigrationService';
  const m = (definition[service] as Record<string, { responseSerialize(v: object): Buffer; responseDeserialize(b: Buffer): object }>)[
    method
  ];
  assert.ok(m);
  return m.responseDeserialize(m.responseSerialize(response));
}

test('defaults are omitted; 64-bit integers are strings; enums are names; names are lowerCamelCase', () => {
  const message = received('GetMigrationStatus', {
    status: {
      jobId: 'j',
      phase: 'MIGRATION_PHASE_MIGRATING',
      progressPercent: 0,
      data: { totalBytes: 9_007_199_254_740_000, processedBytes: 0 },
      network: 'NETWORK_ROLE_UNSPECIFIED',
      warnings: [],
      bytesOnManagementNic: 65_536,
    },
  });
  assert.deepEqual(toProto3Json('ferry.v1.GetMigrationStatusResponse', message), {
    status: {
      jobId: 'j',
      phase: 'MIGRATION_PHASE_MIGRATING',
      data: { totalBytes: '9007199254740000' },
      bytesOnManagementNic: '65536',
    },
  });
});

test('fields with presence (proto3 optional) are printed when set, even at zero; unset they are not', () => {
  const message = received('GetMigrationStatus', { status: { policy: { maxBandwidthMibps: 0, autoConverge: false } } });
  assert.deepEqual(toProto3Json('ferry.v1.GetMigrationStatusResponse', message), {
    status: { policy: { maxBandwidthMibps: 0, autoConverge: false } },
  });
});

test('Timestamp: RFC 3339 in UTC with 0, 3, 6 or 9 fraction digits; Duration: seconds with "s"', () => {
  const at = (seconds: number, nanos: number) =>
    toProto3Json('ferry.v1.GetMigrationStatusResponse', received('GetMigrationStatus', { status: { startedAt: { seconds, nanos } } }));
  assert.deepEqual(at(1_795_336_200, 0), { status: { startedAt: '2026-11-22T08:30:00Z' } });
  assert.deepEqual(at(1_795_336_200, 250_000_000), { status: { startedAt: '2026-11-22T08:30:00.250Z' } });
  assert.deepEqual(at(0, 1_000), { status: { startedAt: '1970-01-01T00:00:00.000001Z' } });
  assert.deepEqual(at(0, 1), { status: { startedAt: '1970-01-01T00:00:00.000000001Z' } });
  const lasting = (seconds: number, nanos: number) =>
    toProto3Json('ferry.v1.GetMigrationStatusResponse', received('GetMigrationStatus', { status: { downtime: { seconds, nanos } } }));
  assert.deepEqual(lasting(1, 500_000_000), { status: { downtime: '1.500s' } });
  assert.deepEqual(lasting(0, 123_500_000), { status: { downtime: '0.123500s' } });
  assert.deepEqual(lasting(3600, 0), { status: { downtime: '3600s' } });
  assert.deepEqual(lasting(-1, -500_000_000), { status: { downtime: '-1.500s' } });
  assert.deepEqual(lasting(0, 0), { status: { downtime: '0s' } }, 'a set message field is printed, even at zero');
});

test('a oneof member is printed when set, even empty; repeated fields are lists', () => {
  const message = received('WatchHost', {
    revision: 0,
    incarnation: 'i',
    resync: { reason: 'RESYNC_REASON_UNSPECIFIED', message: '' },
  });
  assert.deepEqual(toProto3Json('ferry.v1.WatchHostResponse', message), { incarnation: 'i', resync: {} });
  const snapshot = received('WatchHost', { revision: 3, snapshot: { vms: [{ id: 'a', memoryBytes: 1 }, { id: 'b' }] } });
  assert.equal(
    formatProto3Json('ferry.v1.WatchHostResponse', snapshot, 'line'),
    '{"revision":"3","snapshot":{"vms":[{"id":"a","memoryBytes":"1"},{"id":"b"}]}}',
  );
});

test('an enum number the schema does not name stays a number; a double keeps its value', () => {
  assert.deepEqual(toProto3Json('ferry.v1.MigrateResponse', { jobId: '', vmId: '', phase: 42 }), { phase: 42 });
  assert.deepEqual(toProto3Json('ferry.v1.GetStatsResponse', { cpuPercent: 12.5, nics: [] }), { cpuPercent: 12.5 });
  assert.deepEqual(toProto3Json('ferry.v1.GetStatsResponse', { cpuPercent: Number.NaN }), { cpuPercent: 'NaN' });
});
