/**
 * The flags that describe a live migration, shared by `migrate` (which
 * starts one) and `check` (which asks whether it would start): the
 * destination, its migration network, and every field of MigrationPolicy a
 * flag can say (the schedule's steps are left to presets and the host's
 * policy). Both send the same MigrateRequest for the same flags. The policy
 * flags alone are `maintenance enter`'s too (its drain's every migration).
 */
import { type Command, Option, type OptionValues } from '@commander-js/extra-typings';
import { PRESETS } from '../config/fields.js';
import { Compression } from '../../shared/generated/ferry/v1/Compression.js';
import { CopyStorage } from '../../shared/generated/ferry/v1/CopyStorage.js';
import type { MigrateRequest } from '../../shared/generated/ferry/v1/MigrateRequest.js';
import type { MigrationPolicy } from '../../shared/generated/ferry/v1/MigrationPolicy.js';
import { protoTimeFromMs } from '../../shared/proto-time.js';
import type { Agent } from './agent.js';
import { choiceOption } from './options.js';
import { resolveVm } from './targets.js';
import { agentAddress, cidr, duration, enumValue, oneOf, UINT32_MAX, unicastAddress, type VmRef, wholeNumber } from './values.js';

const DAY_S = 86_400;

// biome-ignore lint/suspicious/noExplicitAny: commander's own argument list type
export function addMigrationOptions<Args extends any[], Opts extends OptionValues, Globals extends OptionValues>(
  command: Command<Args, Opts, Globals>,
) {
  return addPolicyOptions(
    command
      .addOption(new Option('--to <HOST[:PORT]>', 'the destination agent').argParser(agentAddress).makeOptionMandatory())
      .addOption(
        new Option('--dstqemu <IP>', "the destination's address on the migration network (its QEMU listens there)")
          .argParser(unicastAddress)
          .conflicts('network'),
      )
      .addOption(new Option('--network <CIDR>', 'the migration network: the destination picks its own address in it').argParser(cidr)),
  );
}

/** The flags of MigrationPolicy's fields. */
// biome-ignore lint/suspicious/noExplicitAny: commander's own argument list type
export function addPolicyOptions<Args extends any[], Opts extends OptionValues, Globals extends OptionValues>(
  command: Command<Args, Opts, Globals>,
) {
  return command
    .addOption(
      new Option('--bandwidth <MIBPS>', 'bandwidth cap in MiB/s, 0 = unlimited').argParser(
        wholeNumber(0, UINT32_MAX, 'MiB/s; 0 = unlimited'),
      ),
    )
    .addOption(new Option('--parallel <N>', 'parallel connections (QEMU multifd)').argParser(wholeNumber(1, 64, 'connections')))
    .addOption(choiceOption('--compression <METHOD>', 'compression of the stream', enumValue(Compression, 'COMPRESSION_')))
    .option('--auto-converge', 'let QEMU throttle a guest that dirties memory too fast')
    .option('--no-auto-converge', 'never throttle the guest')
    .option('--post-copy', 'allow post-copy (the schedule switches when pre-copy stalls)')
    .option('--no-post-copy', 'never switch to post-copy')
    .option('--encrypted', 'encrypt the QEMU stream with TLS (VIR_MIGRATE_TLS)')
    .option('--no-encrypted', 'do not encrypt the QEMU stream')
    .addOption(
      choiceOption('--copy-storage <MODE>', 'copy local disks over the migration network', enumValue(CopyStorage, 'COPY_STORAGE_')),
    )
    .addOption(
      new Option('--downtime <DURATION>', 'the maximum downtime at the start, e.g. 300ms').argParser(
        duration({ min: 1, max: 60_000, unit: 'ms' }),
      ),
    )
    .addOption(
      choiceOption(
        '--preset <NAME>',
        'a named policy: initial downtime, post-copy and schedule',
        oneOf(PRESETS.filter((p): p is Exclude<(typeof PRESETS)[number], ''> => p !== '')),
      ),
    )
    .addOption(
      new Option('--completion-timeout-per-gib <DURATION>', 'abort when the copy takes longer than this per GiB (0: none)').argParser(
        duration({ min: 0, max: DAY_S, unit: 's', zero: 'no completion timeout' }),
      ),
    )
    .addOption(
      new Option('--stall-timeout <DURATION>', 'abort when the remaining data has not decreased for this long (0: none)').argParser(
        duration({ min: 0, max: DAY_S, unit: 's', zero: 'no stall timeout' }),
      ),
    )
    .addOption(
      new Option('--queue-timeout <DURATION>', 'how long the job may wait in QUEUED (0: the host default)').argParser(
        duration({ min: 0, max: DAY_S, unit: 's', zero: "the host's default" }),
      ),
    )
    .addOption(
      new Option(
        '--postcopy-recovery-timeout <DURATION>',
        'how long a post-copy that broke is resumed by itself (0: only by ferryctl recover)',
      ).argParser(duration({ min: 0, max: DAY_S, unit: 's', zero: 'only by ferryctl recover' })),
    );
}

/** What addMigrationOptions' flags parse into. */
export type MigrationOptions = ReturnType<ReturnType<typeof addMigrationOptions<[], Record<never, never>, Record<never, never>>>['opts']>;

/** What addPolicyOptions' flags parse into. */
export type PolicyOptions = ReturnType<ReturnType<typeof addPolicyOptions<[], Record<never, never>, Record<never, never>>>['opts']>;

/** The MigrateRequest (mode REMOTE, no request id) the flags say, for the VM given by UUID or name. */
export async function migrateRequestOf(agent: Agent, vm: VmRef, options: MigrationOptions): Promise<MigrateRequest> {
  return {
    vmId: await resolveVm(agent, vm),
    dst: options.to,
    mode: 'MIGRATION_MODE_REMOTE',
    dstqemu: options.dstqemu ?? '',
    migrationNetwork: options.network ?? '',
    policy: policyOf(options),
  };
}

/** The MigrationPolicy the flags say: only the fields given (the others are the host's defaults). */
export function policyOf(options: PolicyOptions): MigrationPolicy {
  const policy: MigrationPolicy = {};
  if (options.bandwidth !== undefined) policy.maxBandwidthMibps = options.bandwidth;
  if (options.parallel !== undefined) policy.parallelConnections = options.parallel;
  if (options.compression !== undefined) policy.compression = options.compression;
  if (options.autoConverge !== undefined) policy.autoConverge = options.autoConverge;
  if (options.postCopy !== undefined) policy.postCopy = options.postCopy;
  if (options.encrypted !== undefined) policy.encrypted = options.encrypted;
  if (options.copyStorage !== undefined) policy.copyStorage = options.copyStorage;
  if (options.downtime !== undefined) policy.initialDowntime = protoTimeFromMs(options.downtime);
  if (options.preset !== undefined) policy.preset = options.preset;
  if (options.completionTimeoutPerGib !== undefined) policy.completionTimeoutPerGib = protoTimeFromMs(options.completionTimeoutPerGib);
  if (options.stallTimeout !== undefined) policy.stallTimeout = protoTimeFromMs(options.stallTimeout);
  if (options.queueTimeout !== undefined) policy.queueTimeout = protoTimeFromMs(options.queueTimeout);
  if (options.postcopyRecoveryTimeout !== undefined) policy.postcopyRecoveryTimeout = protoTimeFromMs(options.postcopyRecoveryTimeout);
  return policy;
}
