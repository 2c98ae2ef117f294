/**
 * `ferryctl events`: follows the agent's WatchHost stream (a snapshot, then
 * every VM, job and host change) until interrupted: one readable line per
 * message, or one JSON object per line with --json. Each line shows
 * INCARNATION/REVISION, which --since takes to resume.
 */
import { Option } from '@commander-js/extra-typings';
import type { WatchHostResponse__Output } from '../../../shared/generated/ferry/v1/WatchHostResponse.js';
import { msFromProtoTime } from '../../../shared/proto-time.js';
import { withAgent } from '../agent.js';
import { CliExit, EXIT } from '../exit.js';
import { printStreamed } from '../output.js';
import type { Program } from '../program.js';
import { readStream } from '../stream.js';
import { since } from '../values.js';

export function addEventsCommand(program: Program): void {
  program
    .command('events')
    .description("follow the host's events until Ctrl-C: a snapshot, then every VM, job and host change (WatchHost)")
    .addOption(new Option('--since <[INCARNATION/]REV>', 'resume after this revision, as printed by an earlier run').argParser(since))
    .action(async (options, command) => {
      await withAgent(command.optsWithGlobals(), async (agent) => {
        const request = options.since ? { sinceRevision: options.since.revision, incarnation: options.since.incarnation } : {};
        const outcome = await readStream(
          agent.clients.host.WatchHost(request),
          (m: WatchHostResponse__Output) => {
            if (agent.json) printStreamed('ferry.v1.WatchHostResponse', m);
            else process.stdout.write(`${describe(m)}\n`);
          },
          (_count, leave) => leave(),
        ).done;
        if (outcome === 'left') throw new CliExit(EXIT.interrupted);
      });
    });
}

export function describe(m: WatchHostResponse__Output): string {
  const head = `${new Date(msFromProtoTime(m.time)).toISOString()} ${m.incarnation}/${m.revision}`;
  if (m.resync) return `${head} RESYNC ${m.resync.reason.replace('RESYNC_REASON_', '')}: ${m.resync.message}`;
  if (m.snapshot) {
    const { vms, migrations, host } = m.snapshot;
    const vmText = vms.map((vm) => `${vm.name}=${vm.state.replace('VM_STATE_', '').toLowerCase()}`).join(' ');
    return `${head} SNAPSHOT ${vms.length} VMs [${vmText}], ${migrations.length} jobs, ${hostText(host)}`;
  }
  if (m.vm) return `${head} VM ${m.vm.name} (${m.vm.vmId}) ${m.vm.event.replace('VM_LIFECYCLE_EVENT_', '')} ${m.vm.detail}`;
  if (m.migration) return `${head} JOB ${m.migration.jobId} VM ${m.migration.vmId} ${m.migration.phase.replace('MIGRATION_PHASE_', '')}`;
  if (m.host) return `${head} HOST ${hostText(m.host)}`;
  return `${head} (unknown message)`;
}

function hostText(host: WatchHostResponse__Output['host']): string {
  if (!host) return 'host ?';
  const nic = host.migrationNic ? `${host.migrationNic} ${host.migrationNicUp ? 'up' : 'down'}` : 'none';
  const limits = host.limits ? `, limits out ${host.limits.maxOutgoing} in ${host.limits.maxIncoming}` : '';
  const phase = host.maintenance.replace('MAINTENANCE_PHASE_', '').toLowerCase();
  const maintenance = phase === 'off' || phase === 'unspecified' ? '' : `, maintenance ${phase}`;
  return `libvirt ${host.libvirtConnected ? 'connected' : 'DISCONNECTED'}, migration NIC ${nic}${limits}${maintenance}`;
}
