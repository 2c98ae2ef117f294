// The checks before a migration across the wire: CheckIncoming's request as
// the source writes it and the destination reads (and validates) it, and the
// findings both ways; the core's reasons are exactly the contract's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHECK_REASONS, type IncomingCheckArgs } from '../../agent/migration/index.js';
import { checkArgsFromProto, checkArgsToProto, findingFromProto, findingToProto } from '../../agent/rpc/convert-check.js';
import type { CheckIncomingRequest__Output } from '../../shared/generated/ferry/v1/CheckIncomingRequest.js';
import { MigrationCheckReason } from '../../shared/generated/ferry/v1/MigrationCheckReason.js';
import { isFerryError } from '../../shared/errors.js';
import { plainGuest } from '../support/fake-ports.js';
import { remoteCommand } from '../support/migration-fixtures.js';

const VM = '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50';

function args(): IncomingCheckArgs {
  const { virtType, arch, machine, emulator, cpu, memoryBytes, hugepageBytes } = plainGuest();
  return {
    vmId: VM,
    sourceMigrationAddress: '198.19.0.1',
    dstqemu: '198.19.0.2',
    migrationNetwork: '',
    policy: remoteCommand(VM, {}, { copyStorage: 'all', parallelConnections: 4, compression: 'zstd' }).policy,
    guest: {
      virtType,
      arch,
      machine,
      emulator,
      cpu,
      memoryBytes,
      hugepageBytes,
      sourceHostCpuXml: '',
      nics: [
        { kind: 'bridge', source: 'br0', mac: '52:54:00:00:00:01' },
        { kind: 'network', source: 'default', mac: '52:54:00:00:00:02' },
      ],
    },
    paths: [{ path: '/srv/iso/a.iso', use: 'disk hdc (read-only)' }],
    disks: [{ target: 'vda', path: '/var/lib/libvirt/images/a.qcow2', format: 'qcow2', capacityBytes: 2 ** 30, allocationBytes: 2 ** 29 }],
    sourceVersions: { libvirt: 9_000_000, qemu: 7_002_000 },
  };
}

test('CheckIncoming: what the source writes, the destination reads back unchanged', () => {
  const sent = checkArgsToProto(args()) as unknown as CheckIncomingRequest__Output;
  assert.deepEqual(checkArgsFromProto(sent), args());
});

test('CheckIncoming: the destination refuses a malformed request as INVALID_ARGUMENT naming the field', () => {
  const sent = () => checkArgsToProto(args()) as unknown as CheckIncomingRequest__Output;
  const cases: Array<[string, (r: CheckIncomingRequest__Output) => void]> = [
    ['vm_id', (r) => (r.vmId = 'nope')],
    ['dstqemu', (r) => (r.dstqemu = '224.0.0.1')],
    ['guest', (r) => (r.guest = null)],
    ['guest.virt_type', (r) => (r.guest!.virtType = '')],
    ['guest.cpu_xml', (r) => (r.guest!.cpuXml = 'x'.repeat(70_000))],
    ['guest.nics[0].kind', (r) => (r.guest!.nics[0]!.kind = 'NIC_ATTACHMENT_KIND_UNSPECIFIED')],
    ['paths[0].path', (r) => (r.paths[0]!.path = 'relative/a.iso')],
    ['disks[0].path', (r) => (r.disks[0]!.path = '')],
  ];
  for (const [field, spoil] of cases) {
    const request = sent();
    spoil(request);
    assert.throws(
      () => checkArgsFromProto(request),
      (e) => isFerryError(e, 'INVALID_ARGUMENT') && e.details.field === field,
      field,
    );
  }
});

test("findings both ways; a reason this agent does not know (a newer peer's) keeps its severity and message", () => {
  const finding = { reason: 'NETWORK_MISSING', side: 'destination', message: 'no bridge br0' } as const;
  assert.deepEqual(findingToProto(finding), {
    reason: 'MIGRATION_CHECK_REASON_NETWORK_MISSING',
    side: 'MIGRATION_CHECK_SIDE_DESTINATION',
    message: 'no bridge br0',
  });
  assert.deepEqual(findingFromProto(findingToProto(finding) as never), finding);
  assert.deepEqual(
    findingFromProto({
      reason: 'MIGRATION_CHECK_REASON_FROM_THE_FUTURE',
      side: 'MIGRATION_CHECK_SIDE_DESTINATION',
      message: 'new',
    } as never),
    { reason: 'CHECK_INCOMPLETE', side: 'destination', message: 'new' },
  );
  assert.deepEqual(findingFromProto({ reason: 99, side: 'MIGRATION_CHECK_SIDE_SOURCE', message: 'n' } as never).reason, 'CHECK_INCOMPLETE');
});

test("the core's reasons are exactly ferry.v1.MigrationCheckReason's values, in order", () => {
  const contract = Object.keys(MigrationCheckReason)
    .filter((name) => name !== 'MIGRATION_CHECK_REASON_UNSPECIFIED')
    .map((name) => name.slice('MIGRATION_CHECK_REASON_'.length));
  assert.deepEqual([...CHECK_REASONS], contract);
});
