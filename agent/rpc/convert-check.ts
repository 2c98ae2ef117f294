/**
 * The checks before a migration between the proto messages and the core's
 * types: findings both ways (the destination answers them, the source reads
 * them back), and CheckIncoming's request both ways (the source's peer
 * client writes it, the destination's service reads and validates it).
 */
import type { CheckIncomingRequest, CheckIncomingRequest__Output } from '../../shared/generated/ferry/v1/CheckIncomingRequest.js';
import type { CheckIncomingResponse } from '../../shared/generated/ferry/v1/CheckIncomingResponse.js';
import type { GuestRequirements__Output } from '../../shared/generated/ferry/v1/GuestRequirements.js';
import { MigrationCheckReason as PROTO_REASONS } from '../../shared/generated/ferry/v1/MigrationCheckReason.js';
import type { MigrationCheckFinding, MigrationCheckFinding__Output } from '../../shared/generated/ferry/v1/MigrationCheckFinding.js';
import type { NicAttachmentKind } from '../../shared/generated/ferry/v1/NicAttachmentKind.js';
import { fieldRequired, invalidArgument } from '../../shared/errors.js';
import { optionalCidr, optionalUnicast, requireAbsolutePath, requireEnum, requireText, requireUuid } from '../../shared/validation.js';
import {
  CHECK_REASONS,
  type CheckFindings,
  type CheckReason,
  type Finding,
  type GuestRequirements,
  type IncomingCheckAnswer,
  type IncomingCheckArgs,
  type NicAttachment,
} from '../migration/index.js';
import { policyToProto, resolvedPolicyFromProto } from './convert-policy.js';
import { diskImageFrom, diskImageToProto } from './convert-disk-image.js';

const PREFIX = 'MIGRATION_CHECK_REASON_';

export function findingToProto(f: Finding): MigrationCheckFinding {
  return {
    reason: `${PREFIX}${f.reason}`,
    side: f.side === 'source' ? 'MIGRATION_CHECK_SIDE_SOURCE' : 'MIGRATION_CHECK_SIDE_DESTINATION',
    message: f.message,
  };
}

export function findingsToProto(findings: CheckFindings): { blocking: MigrationCheckFinding[]; warnings: MigrationCheckFinding[] } {
  return { blocking: findings.blocking.map(findingToProto), warnings: findings.warnings.map(findingToProto) };
}

/** CheckIncoming's answer: the findings and this host's display address. */
export function incomingAnswerToProto(answer: IncomingCheckAnswer): CheckIncomingResponse {
  return { ...findingsToProto(answer), displayAddress: answer.displayAddress };
}

/**
 * A finding as a peer answered it. A reason this agent does not know (a
 * newer peer's) keeps its message and severity, as CHECK_INCOMPLETE.
 */
export function findingFromProto(f: MigrationCheckFinding__Output): Finding {
  const name = typeof f.reason === 'string' && f.reason.startsWith(PREFIX) ? f.reason.slice(PREFIX.length) : '';
  const known = (CHECK_REASONS as readonly string[]).includes(name) && Object.hasOwn(PROTO_REASONS, f.reason);
  return {
    reason: known ? (name as CheckReason) : 'CHECK_INCOMPLETE',
    side: f.side === 'MIGRATION_CHECK_SIDE_SOURCE' ? 'source' : 'destination',
    message: f.message,
  };
}

const NIC_KINDS: Record<NicAttachment['kind'], Exclude<NicAttachmentKind, number>> = {
  bridge: 'NIC_ATTACHMENT_KIND_BRIDGE',
  network: 'NIC_ATTACHMENT_KIND_NETWORK',
  direct: 'NIC_ATTACHMENT_KIND_DIRECT',
};
const KIND_NAMES = Object.values(NIC_KINDS);

/** What the source sends (agent/peers). */
export function checkArgsToProto(args: IncomingCheckArgs): CheckIncomingRequest {
  const { guest } = args;
  return {
    vmId: args.vmId,
    sourceMigrationAddress: args.sourceMigrationAddress,
    dstqemu: args.dstqemu,
    migrationNetwork: args.migrationNetwork,
    policy: policyToProto(args.policy),
    guest: {
      virtType: guest.virtType,
      arch: guest.arch,
      machine: guest.machine,
      emulator: guest.emulator,
      cpuMode: guest.cpu.mode,
      cpuModel: guest.cpu.model,
      cpuXml: guest.cpu.xml,
      sourceHostCpuXml: guest.sourceHostCpuXml,
      memoryBytes: guest.memoryBytes,
      hugepageBytes: guest.hugepageBytes,
      nics: guest.nics.map((n) => ({ kind: NIC_KINDS[n.kind], source: n.source, mac: n.mac })),
    },
    paths: args.paths.map((p) => ({ path: p.path, use: p.use })),
    disks: args.disks.map(diskImageToProto),
    sourceLibvirtVersion: args.sourceVersions.libvirt,
    sourceQemuVersion: args.sourceVersions.qemu,
  };
}

/** What the destination receives: every field's syntax checked here, what it means for this host is the core's. */
export function checkArgsFromProto(request: CheckIncomingRequest__Output): IncomingCheckArgs {
  if (!request.guest) throw fieldRequired('guest', 'is required: what the guest needs of a host');
  return {
    vmId: requireUuid('vm_id', request.vmId),
    sourceMigrationAddress: optionalUnicast('source_migration_address', request.sourceMigrationAddress),
    dstqemu: optionalUnicast('dstqemu', request.dstqemu),
    migrationNetwork: optionalCidr('migration_network', request.migrationNetwork),
    policy: resolvedPolicyFromProto(request.policy),
    guest: guestFromProto(request.guest),
    paths: request.paths.map((p, i) => ({ path: requireAbsolutePath(`paths[${i}].path`, p.path), use: bounded(`paths[${i}].use`, p.use) })),
    disks: request.disks.map(diskImageFrom),
    sourceVersions: { libvirt: request.sourceLibvirtVersion, qemu: request.sourceQemuVersion },
  };
}

/** The <cpu> elements are libvirt's own XML: bounded, not parsed here. */
const MAX_XML = 65_536;

function guestFromProto(g: GuestRequirements__Output): GuestRequirements {
  return {
    virtType: requireText('guest.virt_type', g.virtType, "libvirt's domain type, e.g. kvm"),
    arch: requireText('guest.arch', g.arch, 'the guest architecture, e.g. x86_64'),
    machine: bounded('guest.machine', g.machine),
    emulator: g.emulator ? requireAbsolutePath('guest.emulator', g.emulator) : '',
    cpu: {
      mode: bounded('guest.cpu_mode', g.cpuMode),
      model: bounded('guest.cpu_model', g.cpuModel),
      xml: bounded('guest.cpu_xml', g.cpuXml, MAX_XML),
    },
    sourceHostCpuXml: bounded('guest.source_host_cpu_xml', g.sourceHostCpuXml, MAX_XML),
    memoryBytes: g.memoryBytes,
    hugepageBytes: g.hugepageBytes,
    nics: g.nics.map((n, i) => {
      const kind = requireEnum(`guest.nics[${i}].kind`, n.kind, KIND_NAMES);
      return {
        kind: (Object.keys(NIC_KINDS) as NicAttachment['kind'][]).find((k) => NIC_KINDS[k] === kind) ?? 'bridge',
        source: requireText(`guest.nics[${i}].source`, n.source, 'the bridge, network or interface name'),
        mac: bounded(`guest.nics[${i}].mac`, n.mac),
      };
    }),
  };
}

function bounded(field: string, value: string, max = 256): string {
  if (value.length > max) throw invalidArgument(field, `is ${value.length} characters long; at most ${max} are allowed`);
  return value;
}
