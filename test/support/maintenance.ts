// Maintenance on the lab, as the engine drives it (HostService EnterMaintenance,
// GetMaintenance, WatchMaintenance, ExitMaintenance): the request that empties
// a host towards other lab hosts, a recorded WatchMaintenance stream, and the
// facts the e2e test and the drain benchmark read back from libvirt.
import type { ClientReadableStream } from '@grpc/grpc-js';
import { unary } from '../../shared/client.js';
import type { Maintenance__Output } from '../../shared/generated/ferry/v1/Maintenance.js';
import type { MaintenanceDestination } from '../../shared/generated/ferry/v1/MaintenanceDestination.js';
import type { MaintenancePhase__Output } from '../../shared/generated/ferry/v1/MaintenancePhase.js';
import type { MaintenanceVm__Output } from '../../shared/generated/ferry/v1/MaintenanceVm.js';
import type { MigrationPolicy } from '../../shared/generated/ferry/v1/MigrationPolicy.js';
import type { WatchMaintenanceResponse__Output } from '../../shared/generated/ferry/v1/WatchMaintenanceResponse.js';
import { agent, domainState } from './ferry.js';
import { labExec, labHost, readLabState } from './lab.js';
import { until } from './wait.js';

/** The phases after which the drain starts no migration (WatchMaintenance closes). */
export const DRAIN_ENDED: readonly MaintenancePhase__Output[] = ['MAINTENANCE_PHASE_DRAINED', 'MAINTENANCE_PHASE_INCOMPLETE'];

/** Lab hosts as drain destinations: the agent's management address, dstqemu its migration address. */
export function destinations(...hosts: string[]): MaintenanceDestination[] {
  return hosts.map((h) => ({ host: labHost(h).mgmtIp, dstqemu: labHost(h).migIp }));
}

/** The lab host a drain names as a VM's destination (MaintenanceDestination.host as requested, "198.18.0.N[:port]"). */
export function labHostOf(destination: string): string {
  const address = destination.replace(/:\d+$/, '');
  return readLabState().hosts.find((h) => h.mgmtIp === address)?.name ?? `(not a lab host: ${destination})`;
}

export async function enterMaintenance(
  host: string,
  to: string[],
  options: { maxParallel?: number; policy?: MigrationPolicy } = {},
): Promise<Maintenance__Output> {
  const { maintenance } = await unary(agent(host).host, 'EnterMaintenance', {
    destinations: destinations(...to),
    maxParallel: options.maxParallel ?? 0,
    ...(options.policy ? { policy: options.policy } : {}),
  });
  if (!maintenance) throw new Error(`EnterMaintenance on ${host} answered without a maintenance`);
  return maintenance;
}

export async function getMaintenance(host: string): Promise<Maintenance__Output> {
  const { maintenance } = await unary(agent(host).host, 'GetMaintenance', {});
  if (!maintenance) throw new Error(`GetMaintenance on ${host} answered without a maintenance`);
  return maintenance;
}

export async function exitMaintenance(host: string, cancelMigrations = false): Promise<Maintenance__Output> {
  const { maintenance } = await unary(agent(host).host, 'ExitMaintenance', { cancelMigrations });
  if (!maintenance) throw new Error(`ExitMaintenance on ${host} answered without a maintenance`);
  return maintenance;
}

/** Polls GetMaintenance until the drain has ended (DRAINED or INCOMPLETE); returns that answer. */
export async function waitForDrainEnd(host: string, timeoutMs: number): Promise<Maintenance__Output> {
  let last: Maintenance__Output | undefined;
  return until(
    `the drain of ${host} to end`,
    async () => {
      last = await getMaintenance(host);
      return DRAIN_ENDED.includes(last.phase) && last;
    },
    { timeoutMs, everyMs: 250, detail: () => `phase ${last?.phase}; ${last ? vmStates(last) : ''}` },
  );
}

/** The drain's entry for a VM; throws when the drain does not list it. */
export function vmOf(maintenance: Maintenance__Output, name: string): MaintenanceVm__Output {
  const vm = maintenance.vms.find((v) => v.name === name);
  if (!vm) throw new Error(`the maintenance lists no VM ${name}: ${vmStates(maintenance)}`);
  return vm;
}

/** "name STATE → lab2" for each VM, for messages. */
export function vmStates(maintenance: Maintenance__Output): string {
  return maintenance.vms
    .map((v) => `${v.name} ${v.state.replace('MAINTENANCE_VM_STATE_', '')}${v.destination ? ` → ${labHostOf(v.destination)}` : ''}`)
    .join(', ');
}

/** A WatchMaintenance stream, recorded until it closes (or fails: an agent killed under it). */
export class MaintenanceWatch {
  readonly messages: Array<Maintenance__Output & { receivedAt: number }> = [];
  ended = false;
  error: unknown;
  private readonly stream: ClientReadableStream<WatchMaintenanceResponse__Output>;

  constructor(host: string) {
    this.stream = agent(host).host.WatchMaintenance({});
    this.stream.on('data', ({ maintenance }: WatchMaintenanceResponse__Output) => {
      if (maintenance) this.messages.push({ ...maintenance, receivedAt: Date.now() });
    });
    this.stream.on('end', () => (this.ended = true));
    this.stream.on('error', (err) => (this.error = err));
  }

  last(): Maintenance__Output | undefined {
    return this.messages.at(-1);
  }

  /** The states a VM went through, as seen on the stream, each once in a row ("MIGRATING", "MIGRATED"). */
  states(name: string): string[] {
    const seen: string[] = [];
    for (const m of this.messages) {
      const state = m.vms.find((v) => v.name === name)?.state.replace('MAINTENANCE_VM_STATE_', '');
      if (state && seen.at(-1) !== state) seen.push(state);
    }
    return seen;
  }

  /** Polls until check holds on the latest message; returns that message. Fails if the stream fails first. */
  async waitFor(what: string, check: (m: Maintenance__Output) => boolean, timeoutMs = 120_000): Promise<Maintenance__Output> {
    return until(
      what,
      () => {
        if (this.error) throw this.error;
        const last = this.last();
        return last !== undefined && check(last) && last;
      },
      { timeoutMs, everyMs: 20, detail: () => (this.last() ? vmStates(this.last()!) : 'no message yet') },
    );
  }

  /** Until the agent has closed the stream (with OK). */
  async waitForEnd(timeoutMs = 120_000): Promise<void> {
    await until(
      'WatchMaintenance to close',
      () => {
        if (this.error) throw this.error;
        return this.ended;
      },
      { timeoutMs, everyMs: 50, detail: () => `last phase ${this.last()?.phase}` },
    );
  }

  close(): void {
    this.stream.cancel();
  }
}

/** Names of the guests running on a lab host (its own virsh). */
export async function runningGuests(host: string): Promise<string[]> {
  const r = await labExec(host, ['virsh', '-q', '-c', 'qemu:///system', 'list', '--name', '--state-running']);
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** The hosts on which a guest is running, per libvirt (a guest must run on exactly one). */
export async function runningOn(name: string, hosts: readonly string[]): Promise<string[]> {
  const states = await Promise.all(hosts.map(async (h) => [h, await domainState(h, name)] as const));
  return states.filter(([, s]) => s === 'running').map(([h]) => h);
}
