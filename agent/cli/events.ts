/**
 * `ferryctl events`: follows an agent's WatchHost stream until interrupted,
 * one JSON object per line (--json) or one readable line per message.
 */
import type { FerryClients } from '../../shared/client.js';
import type { WatchHostResponse__Output } from '../../shared/generated/ferry/v1/WatchHostResponse.js';
import { msFromProtoTime } from '../../shared/proto-time.js';

export async function followEvents(clients: FerryClients, options: { since: string | undefined; json: boolean }): Promise<number> {
  // "--since REV" or "--since INCARNATION/REV" (as this command prints them).
  const [incarnation = '', revision = '0'] = options.since?.includes('/') ? options.since.split('/') : ['', options.since ?? '0'];
  if (!/^\d+$/.test(revision)) throw new Error(`--since: "${options.since}" is not a revision (REV or INCARNATION/REV)`);
  await new Promise<void>((resolve, reject) => {
    const stream = clients.host.WatchHost({ sinceRevision: revision, incarnation });
    stream.on('data', (m: WatchHostResponse__Output) => console.log(options.json ? JSON.stringify(m) : describe(m)));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  return 0;
}

export function describe(m: WatchHostResponse__Output): string {
  const head = `${new Date(msFromProtoTime(m.time)).toISOString()} ${m.incarnation}/${m.revision}`;
  if (m.resync) return `${head} RESYNC ${m.resync.reason.replace('RESYNC_REASON_', '')}: ${m.resync.message}`;
  if (m.snapshot) {
    const { vms, migrations, host } = m.snapshot;
    const vmText = vms.map((vm) => `${vm.name}=${vm.state}`).join(' ');
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
  return `libvirt ${host.libvirtConnected ? 'connected' : 'DISCONNECTED'}, migration NIC ${nic}${limits}`;
}
