// ferryctl's value parsers (agent/cli/values.ts): each refuses what the
// contract does not allow, saying what is allowed, and never rounds, wraps or
// defaults. The issue's own examples first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '@commander-js/extra-typings';
import { Compression } from '../../shared/generated/ferry/v1/Compression.js';
import { MigrationPhase } from '../../shared/generated/ferry/v1/MigrationPhase.js';
import {
  agentAddress,
  duration,
  enumList,
  enumValue,
  hostPath,
  jobTarget,
  since,
  UINT32_MAX,
  uint64,
  unicastAddress,
  uuid,
  vmRef,
  wholeNumber,
} from '../../agent/cli/values.js';

function refuses(parse: (value: string) => unknown, value: string, allowed: RegExp): void {
  assert.throws(
    () => parse(value),
    (e: unknown) => e instanceof InvalidArgumentError && allowed.test(e.message),
    `${JSON.stringify(value)} should be refused with ${allowed}`,
  );
}

const bandwidth = wholeNumber(0, UINT32_MAX, 'MiB/s; 0 = unlimited');
const downtime = duration({ min: 1, max: 60_000, unit: 'ms' });
const stall = duration({ min: 0, max: 86_400, unit: 's', zero: 'no stall timeout' });
const compression = enumValue(Compression, 'COMPRESSION_');

test("the issue's table: fast, 1.7, lz4 and 5000000000 are refused, not sent as something else", () => {
  refuses(bandwidth, 'fast', /^Allowed: a whole number from 0 to 4294967295 \(MiB\/s; 0 = unlimited\)\.$/);
  refuses(bandwidth, '1.7', /whole number/);
  refuses(compression.parse, 'lz4', /^Allowed: none, zlib, zstd, xbzrle\.$/);
  refuses(downtime, '5000000000', /from 1ms to 60s in whole milliseconds, with its unit/);
});

test('whole numbers: the range of the field, nothing else', () => {
  assert.equal(bandwidth('0'), 0);
  assert.equal(bandwidth('4294967295'), UINT32_MAX);
  for (const bad of ['4294967296', '-1', '', ' 1', '1e3', '0x10', '+5']) refuses(bandwidth, bad, /whole number/);
  const parallel = wholeNumber(1, 64, 'connections');
  assert.equal(parallel('64'), 64);
  refuses(parallel, '0', /from 1 to 64/);
  refuses(parallel, '65', /from 1 to 64/);
});

test('uint64: up to 2^64-1, as a string (no loss in a double)', () => {
  const revision = uint64('a revision');
  assert.equal(revision('18446744073709551615'), '18446744073709551615');
  assert.equal(revision('007'), '7');
  refuses(revision, '18446744073709551616', /0 to 18446744073709551615/);
});

test('durations need a unit, are exact, whole in the contract unit, and in range', () => {
  assert.equal(downtime('500ms'), 500);
  assert.equal(downtime('1.5s'), 1500);
  assert.equal(downtime('1.001s'), 1001, 'decimal fractions are exact (no 1000.9999…)');
  assert.equal(downtime('60s'), 60_000);
  assert.equal(downtime('1m'), 60_000);
  refuses(downtime, '300', /with its unit/);
  refuses(downtime, '0.5ms', /whole milliseconds/);
  refuses(downtime, '61s', /1ms to 60s/);
  refuses(downtime, '0ms', /1ms to 60s/);
  refuses(downtime, '5 s', /unit/);
  refuses(downtime, '5sec', /unit/);
  refuses(downtime, '-1s', /unit/);
  assert.equal(stall('0'), 0, 'a bare 0 where zero means "none"');
  assert.equal(stall('90s'), 90_000);
  assert.equal(stall('1m30s'), 90_000);
  assert.equal(stall('24h'), 86_400_000);
  refuses(stall, '1.5s', /whole seconds/);
  refuses(stall, '25h', /up to 24h/);
  refuses(stall, '90', /unit/);
  refuses(downtime, '0', /1ms/);
});

test('enums by name from the generated enum, any case, with or without the prefix; UNSPECIFIED is not a choice', () => {
  assert.deepEqual(compression.choices, ['none', 'zlib', 'zstd', 'xbzrle']);
  assert.equal(compression.parse('zstd'), 'COMPRESSION_ZSTD');
  assert.equal(compression.parse('ZLIB'), 'COMPRESSION_ZLIB');
  assert.equal(compression.parse('compression_xbzrle'), 'COMPRESSION_XBZRLE');
  refuses(compression.parse, 'unspecified', /none, zlib/);
  refuses(compression.parse, '', /none, zlib/);
  const phases = enumList(enumValue(MigrationPhase, 'MIGRATION_PHASE_'));
  assert.deepEqual(phases('failed,cancelled', ['MIGRATION_PHASE_QUEUED']), [
    'MIGRATION_PHASE_QUEUED',
    'MIGRATION_PHASE_FAILED',
    'MIGRATION_PHASE_CANCELLED',
  ]);
  refuses((v) => phases(v, undefined), 'failed,running', /queued, preparing/);
});

test('VMs and jobs: a UUID, a name, or job:/vm: to say which', () => {
  const id = '6F1C2A3E-9D4B-4C1E-8F7A-0B1C2D3E4F50';
  assert.deepEqual(vmRef(id), { uuid: id.toLowerCase() });
  assert.deepEqual(vmRef('web 1'), { name: 'web 1' });
  refuses(vmRef, 'a/b', /UUID or its libvirt name/);
  refuses(vmRef, '', /UUID or its libvirt name/);
  assert.deepEqual(jobTarget(id), { jobOrVm: id.toLowerCase() });
  assert.deepEqual(jobTarget(`job:${id}`), { jobId: id.toLowerCase() });
  assert.deepEqual(jobTarget('vm:web1'), { vm: { name: 'web1' } });
  assert.deepEqual(jobTarget('web1'), { vm: { name: 'web1' } });
  refuses(jobTarget, 'job:web1', /UUID/);
  refuses(uuid, '6f1c2a3e', /8-4-4-4-12/);
});

test('addresses and paths reuse the agent-side checks of shared/validation.ts', () => {
  assert.equal(agentAddress('198.18.0.2:54321'), '198.18.0.2:54321');
  assert.equal(agentAddress('[2001:db8::2]:7000'), '[2001:db8::2]:7000');
  refuses(agentAddress, 'lab1:99999', /port 99999 is out of range/);
  refuses(agentAddress, 'bad host!', /not a host name or IP address/);
  assert.equal(unicastAddress('198.19.0.2'), '198.19.0.2');
  refuses(unicastAddress, '127.0.0.1', /not a unicast address/);
  refuses(unicastAddress, 'lab2', /not an IP address/);
  assert.equal(hostPath('/var/lib/ferry/vm.save'), '/var/lib/ferry/vm.save');
  refuses(hostPath, 'vm.save', /must be an absolute path/);
});

test('--since: REV or INCARNATION/REV', () => {
  assert.deepEqual(since('12'), { incarnation: '', revision: '12' });
  assert.deepEqual(since('a1b2/12'), { incarnation: 'a1b2', revision: '12' });
  refuses(since, 'a1b2/x', /revision/);
  refuses(since, '/12', /INCARNATION\/REV/);
});
