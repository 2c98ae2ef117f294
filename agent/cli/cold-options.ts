/**
 * `ferryctl migrate --cold`: Migrate in mode COLD, a shut-off VM with its
 * local volumes. Its own flags (--keep-source, --hibernation) need --cold,
 * and the live migration's policy flags other than --queue-timeout and
 * --bandwidth mean nothing with it: both are refused here, before anything
 * is sent, as the agent would refuse them.
 */
import { type Command, Option, type OptionValues } from '@commander-js/extra-typings';
import type { MigrateRequest } from '../../shared/generated/ferry/v1/MigrateRequest.js';
import type { MigrationPolicy } from '../../shared/generated/ferry/v1/MigrationPolicy.js';
import { policyOf, type PolicyOptions } from './migration-options.js';
import { hostPath } from './values.js';

// biome-ignore lint/suspicious/noExplicitAny: commander's own argument list type
export function addColdOptions<Args extends any[], Opts extends OptionValues, Globals extends OptionValues>(
  command: Command<Args, Opts, Globals>,
) {
  return command
    .option(
      '--cold',
      'move a shut-off VM with its local volumes instead (mode COLD): of the policy flags only --queue-timeout and --bandwidth apply',
    )
    .option('--keep-source', "with --cold: keep the source's volumes and definition once the destination verified its copies")
    .addOption(
      new Option(
        '--hibernation <DEFINITION_PATH>',
        'with --cold: the definition file hibernate wrote on the agent; its saved state travels too, for restore on the destination',
      ).argParser(hostPath),
    );
}

export type ColdOptions = ReturnType<ReturnType<typeof addColdOptions<[], Record<never, never>, Record<never, never>>>['opts']>;

/** The flag that sets each policy field; null for the one a cold migration takes. Every field is listed. */
const POLICY_FLAGS: Record<Exclude<keyof MigrationPolicy, `_${string}`>, readonly [set: string, unset?: string] | null> = {
  preset: ['--preset'],
  maxBandwidthMibps: null, // caps the volumes' data on the channel
  parallelConnections: ['--parallel'],
  compression: ['--compression'],
  autoConverge: ['--auto-converge', '--no-auto-converge'],
  postCopy: ['--post-copy', '--no-post-copy'],
  encrypted: ['--encrypted', '--no-encrypted'],
  copyStorage: ['--copy-storage'],
  schedule: ['--preset'],
  initialDowntime: ['--downtime'],
  completionTimeoutPerGib: ['--completion-timeout-per-gib'],
  stallTimeout: ['--stall-timeout'],
  queueTimeout: null,
  postcopyRecoveryTimeout: ['--postcopy-recovery-timeout'],
};

/** What is wrong with these flags together, for a usage error; undefined when nothing is. */
export function coldRefusal(options: ColdOptions & PolicyOptions): string | undefined {
  if (!options.cold) {
    const alone = options.keepSource ? '--keep-source' : options.hibernation !== undefined ? '--hibernation' : undefined;
    return alone && `${alone} needs --cold: it is about a cold migration (a shut-off VM with its volumes)`;
  }
  const policy = policyOf(options);
  for (const [key, value] of Object.entries(policy)) {
    const flags = POLICY_FLAGS[key as keyof typeof POLICY_FLAGS];
    if (!flags) continue;
    const typed = value === false && flags[1] ? flags[1] : flags[0];
    return `${typed} cannot be used with --cold: it tunes a live copy of memory, which a shut-off VM does not have (of migrate's policy flags only --queue-timeout and --bandwidth apply)`;
  }
  return undefined;
}

/** The cold request's own fields, over the request the shared migration flags make. */
export function coldRequest(request: MigrateRequest, options: ColdOptions): MigrateRequest {
  return { ...request, mode: 'MIGRATION_MODE_COLD', dstparams: options.hibernation ?? '', keepSource: options.keepSource === true };
}
