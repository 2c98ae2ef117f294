/**
 * `ferryctl host info|stats|vms`: HostService's read-only facts —
 * GetCapabilities, GetStats and ListVms.
 */
import type { Command } from '@commander-js/extra-typings';
import { unary } from '../../../shared/client.js';
import type { GetCapabilitiesResponse__Output } from '../../../shared/generated/ferry/v1/GetCapabilitiesResponse.js';
import type { GetStatsResponse__Output } from '../../../shared/generated/ferry/v1/GetStatsResponse.js';
import type { Vm__Output } from '../../../shared/generated/ferry/v1/Vm.js';
import { msFromProtoTime } from '../../../shared/proto-time.js';
import { type Agent, withAgent } from '../agent.js';
import { fields, printResult, table } from '../output.js';
import type { GlobalOptions, Program } from '../program.js';
import { bytes, phaseName, recoveryLines, vmStateName } from '../progress.js';

/** `host`: a command whose subcommands see the global options. */
type Group = Command<[], Record<never, never>, GlobalOptions>;

export function addHostCommands(program: Program): void {
  // `ferryctl help host info` is the help command; a second one under host would be commander's, which answers unknown names differently.
  const host: Group = program.command('host').description("the agent's host: facts, load and VMs (HostService)").helpCommand(false);

  query(
    host,
    'info',
    'static facts: CPU, memory, NICs, versions, migration network, limits (GetCapabilities)',
    'ferry.v1.GetCapabilitiesResponse',
    (agent) => unary(agent.clients.host, 'GetCapabilities', {}, agent.callOptions),
    capabilitiesText,
  );
  query(
    host,
    'stats',
    "current load: CPU, memory, NIC rates, migrations, the agent's own health (GetStats)",
    'ferry.v1.GetStatsResponse',
    (agent) => unary(agent.clients.host, 'GetStats', {}, agent.callOptions),
    statsText,
  );
  query(
    host,
    'vms',
    'the VMs libvirt knows on the host, by name (ListVms)',
    'ferry.v1.ListVmsResponse',
    (agent) => unary(agent.clients.host, 'ListVms', {}, agent.callOptions),
    (reply) => vmTable(reply.vms),
  );
}

/** A subcommand that makes one call without arguments and prints its answer. */
function query<T extends object>(
  group: Group,
  name: string,
  description: string,
  typeName: string,
  call: (agent: Agent) => Promise<T>,
  text: (reply: T) => string,
): void {
  group
    .command(name)
    .description(description)
    .action(async (_options, command) => {
      await withAgent(command.optsWithGlobals(), async (agent) => {
        const reply = await call(agent);
        printResult(agent, typeName, reply, () => text(reply));
      });
    });
}

const yesNo = (value: boolean) => (value ? 'yes' : 'no');

function capabilitiesText(c: GetCapabilitiesResponse__Output): string {
  const net = c.migrationNetwork;
  const limits = c.limits;
  const head = fields([
    ['hostname', c.hostname],
    ['host UUID', c.hostUuid],
    ['Ferry', c.ferryVersion],
    ['libvirt', c.libvirtVersion],
    ['QEMU', c.qemuVersion],
    ['KVM', yesNo(c.kvmAvailable)],
    ['CPU', c.cpu ? `${c.cpu.model} (${c.cpu.cores} cores, ${c.cpu.threads} threads)` : 'not reported'],
    ['memory', bytes(c.memoryBytes)],
    ['firewall', c.firewallBackendReason ? `${c.firewallBackend} (${c.firewallBackendReason})` : c.firewallBackend],
    [
      'migration network',
      net?.cidr
        ? `${net.cidr} on ${net.link || net.interface || '?'}, address ${net.address || '?'}, ${net.up ? 'up' : `DOWN${net.downReason ? ` (${net.downReason})` : ''}`}`
        : 'none configured',
    ],
    [
      'limits',
      limits
        ? `outgoing ${limits.maxOutgoing}, incoming ${limits.maxIncoming}, ports ${limits.portRangeFirst}-${limits.portRangeLast}`
        : 'not reported',
    ],
    ['TLS', c.insecure ? 'OFF (tls.insecure)' : 'on'],
  ]);
  const nics = table(
    ['NIC', 'ADDRESSES', 'MAC', 'SPEED', 'MTU', 'STATE', 'CARRIES'],
    c.nics.map((n) => [
      n.name,
      n.addresses.join(' '),
      n.mac,
      n.speedMbps ? `${n.speedMbps} Mbit/s` : '',
      String(n.mtu),
      n.state,
      [n.migration && 'migration', n.management && 'management'].filter(Boolean).join(', '),
    ]),
  );
  // Jobs paused in post-copy: their guests run on the destination with memory still here.
  const paused = c.postcopyPaused.flatMap((j) => [
    '',
    `post-copy paused: job ${j.jobId}, vm ${j.vmId} -> ${j.dst} (${phaseName(j)})`,
    ...recoveryLines(j),
  ]);
  return [head, '', nics, ...c.warnings.map((w) => `warning: ${w}`), ...paused].join('\n');
}

function statsText(s: GetStatsResponse__Output): string {
  const agent = s.agent;
  const ms = (d: Parameters<typeof msFromProtoTime>[0]) => `${msFromProtoTime(d).toFixed(1)} ms`;
  const head = fields([
    ['time', s.time ? new Date(msFromProtoTime(s.time)).toISOString() : 'not reported'],
    ['CPU', `${s.cpuPercent.toFixed(1)} %`],
    ['memory', `${bytes(s.memoryUsedBytes)} used of ${bytes(s.memoryTotalBytes)}, ${bytes(s.memoryAvailableBytes)} available`],
    ['migrations', `outgoing ${s.outgoingMigrations}, incoming ${s.incomingMigrations}, queued ${s.queuedMigrations}`],
    [
      'agent',
      agent
        ? `RSS ${bytes(agent.rssBytes)}, event-loop delay p99 ${ms(agent.eventLoopDelayP99)} (max ${ms(agent.eventLoopDelayMax)}), up ${Math.round(msFromProtoTime(agent.uptime) / 1000)} s`
        : 'not reported',
    ],
  ]);
  const nics = table(
    ['NIC', 'RX/S', 'TX/S', 'RX', 'TX'],
    s.nics.map((n) => [n.name, `${bytes(n.rxBytesPerS)}/s`, `${bytes(n.txBytesPerS)}/s`, bytes(n.rxBytes), bytes(n.txBytes)]),
  );
  return [head, '', nics].join('\n');
}

function vmTable(vms: readonly Vm__Output[]): string {
  return table(
    ['UUID', 'NAME', 'STATE', 'MEMORY', 'VCPUS', 'MIGRATING'],
    vms.map((vm) => [vm.id, vm.name, vmStateName(vm.state), bytes(vm.memoryBytes), String(vm.vcpus), vm.migrating ? 'yes' : '']),
  );
}
