/**
 * What the checks before a migration find, in the core's terms: a reason for
 * programs (ferry.v1.MigrationCheckReason without its prefix), the host that
 * found it, and a sentence that says what to fix. A finding either blocks
 * (Migrate would fail, so it refuses up front) or warns (it would not).
 */
import { FerryError } from '../../../shared/errors.js';

/** Every reason, in the contract's order (ferry.v1.MigrationCheckReason; a unit test holds them equal). */
export const CHECK_REASONS = [
  'VM_NOT_FOUND',
  'VM_NOT_RUNNING',
  'VM_BUSY',
  'VM_TRANSIENT',
  'HOST_DEVICE',
  'LOCAL_DISK_NOT_COPIED',
  'SHARED_DISK_COPIED',
  'POLICY_UNSUPPORTED',
  'CPU_INCOMPATIBLE',
  'KVM_UNAVAILABLE',
  'MEMORY_INSUFFICIENT',
  'HUGEPAGES_INSUFFICIENT',
  'EMULATOR_MISSING',
  'MACHINE_TYPE_UNSUPPORTED',
  'VIRT_TYPE_UNSUPPORTED',
  'HYPERVISOR_OLDER',
  'NETWORK_MISSING',
  'DISK_PATH_MISSING',
  'STORAGE_INSUFFICIENT',
  'DISK_PATH_NOT_ALLOWED',
  'DISK_IMAGE_EXISTS',
  'BACKING_IMAGE_MISSING',
  'NO_MIGRATION_ADDRESS',
  'DESTINATION_BUSY',
  'PORT_RANGE_EXHAUSTED',
  'DESTINATION_UNREACHABLE',
  'HYPERVISOR_UNAVAILABLE',
  'CHECK_INCOMPLETE',
  'DESTINATION_IN_MAINTENANCE',
  'MIGRATION_NETWORK_DOWN',
  'GRAPHICS_LISTEN_ADDRESS',
] as const;

export type CheckReason = (typeof CHECK_REASONS)[number];

export type CheckSide = 'source' | 'destination';

export interface Finding {
  reason: CheckReason;
  side: CheckSide;
  message: string;
}

/** One side's findings, or both sides' in order (source first). */
export interface CheckFindings {
  blocking: Finding[];
  warnings: Finding[];
}

/** CheckMigration's answer: ok when nothing blocks. */
export interface CheckReport extends CheckFindings {
  ok: boolean;
}

/** Collects one side's findings as the checks run. */
export class Findings implements CheckFindings {
  readonly blocking: Finding[] = [];
  readonly warnings: Finding[] = [];

  constructor(readonly side: CheckSide) {}

  block(reason: CheckReason, message: string): void {
    this.blocking.push({ reason, side: this.side, message });
  }

  warn(reason: CheckReason, message: string): void {
    this.warnings.push({ reason, side: this.side, message });
  }

  /** Whether something of this reason already blocks (a later check then need not say it again). */
  blocks(reason: CheckReason): boolean {
    return this.blocking.some((f) => f.reason === reason);
  }
}

/**
 * Findings collected apart (checks that ran at once) as one list, in the
 * order given; a host whose libvirt does not answer is said once.
 */
export function mergeFindings(...parts: readonly CheckFindings[]): CheckFindings {
  const once = <T extends Finding>(list: T[]) =>
    list.filter((f, i) => f.reason !== 'HYPERVISOR_UNAVAILABLE' || list.findIndex((g) => g.reason === f.reason && g.side === f.side) === i);
  return { blocking: once(parts.flatMap((p) => p.blocking)), warnings: once(parts.flatMap((p) => p.warnings)) };
}

/** Both sides' findings as one answer, in the order given. */
export function reportOf(...parts: readonly CheckFindings[]): CheckReport {
  const { blocking, warnings } = mergeFindings(...parts);
  return { ok: blocking.length === 0, blocking, warnings };
}

/**
 * Migrate's refusal when a check blocks: FAILED_PRECONDITION with the first
 * blocking finding's message, and every blocking finding as a precondition
 * violation (type = the contract's reason name, subject = the side).
 */
export function refusalOf(report: CheckFindings, subject: string): FerryError | undefined {
  const [first] = report.blocking;
  if (!first) return undefined;
  return new FerryError('FAILED_PRECONDITION', first.message, {
    reason: 'MIGRATION_CHECK_FAILED',
    subject,
    violations: report.blocking.map((f) => ({
      type: `MIGRATION_CHECK_REASON_${f.reason}`,
      subject: f.side,
      description: f.message,
    })),
  });
}
