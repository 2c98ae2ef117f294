/**
 * The source's side of CheckMigration, which Migrate also runs before it
 * creates a job: the VM (it exists, runs, has no other job, no host device),
 * its disks against copy_storage, the policy against this host's libvirt
 * and QEMU, this host's migration address; then the destination checks
 * itself (PeerService.CheckIncoming) with what the VM needs. Nothing is
 * changed on either host. A request that is wrong whatever the hosts'
 * state still throws INVALID_ARGUMENT, as Migrate does.
 */
import { type FerryError, isFerryError } from '../../../shared/errors.js';
import { guestQuery } from '../checks/destination-guest.js';
import { type CheckFindings, type CheckReport, Findings, reportOf } from '../checks/findings.js';
import { gather } from '../checks/gather.js';
import { checkPolicySupport } from '../checks/policy-support.js';
import { checkConsoles, classifyConsoles, type SourceConsoles } from '../checks/source-display.js';
import { checkSourceDisks, diskPaths } from '../checks/source-disks.js';
import { checkVmDefinition, checkVmJobs, checkVmState } from '../checks/source-vm.js';
import type { HostFeatures } from '../policy/policy.js';
import type {
  HostNetwork,
  Hypervisor,
  IncomingCheckAnswer,
  IncomingCheckArgs,
  PeerAgents,
  StoragePaths,
  VmDisk,
  VmInfo,
  VmRequirements,
} from '../ports.js';
import type { MigrateCommand, MigrationPhase } from '../types.js';
import { imageSpecsOf } from './image-specs.js';
import { chooseSourceAddress, type SourceAddress } from './source-address.js';
import { noopSpan, type TraceSpan } from '../tracing.js';

export interface OutgoingCheckDeps {
  hypervisor: Hypervisor;
  peers: PeerAgents;
  network: HostNetwork;
  storage: StoragePaths;
}

export interface OutgoingCheckContext {
  /** This host's libvirt and QEMU. */
  features: HostFeatures;
  /** This agent's own job on the VM, if it has one. */
  ferryJob?: { id: string; phase: MigrationPhase | 'accepting' } | undefined;
  /** The VM as Migrate has just described it (not described again). */
  described?: VmInfo;
  /**
   * A destination agent that cannot be reached: Migrate keeps answering
   * UNAVAILABLE (or DEADLINE_EXCEEDED) as before; CheckMigration reports it.
   */
  unreachable: 'report' | 'throw';
  /** The span the destination's CheckIncoming is a child of. */
  span?: TraceSpan;
}

/** What the check learnt that the migration uses next: no second look-up on the way to libvirt's perform. */
export interface OutgoingFacts {
  vm: VmInfo;
  /** copy_storage: the disks to copy, with their sizes ([] without copy_storage). */
  disks: VmDisk[];
  source: SourceAddress | undefined;
  /** The VM's consoles: those that must move to the destination's display address (undefined: not read, prepare reads them). */
  consoles?: SourceConsoles | undefined;
}

/** CPU modes that give the guest the host's own CPU: the destination compares the source host's. */
const HOST_CPU_MODES = new Set(['host-passthrough', 'maximum']);

export async function checkOutgoing(
  command: MigrateCommand,
  ctx: OutgoingCheckContext,
  deps: OutgoingCheckDeps,
): Promise<{ report: CheckReport; facts?: OutgoingFacts }> {
  const { hypervisor } = deps;
  const { vmId, policy } = command;
  const out = new Findings('source');
  const vm = ctx.described ?? (await describe(vmId, hypervisor, out));
  if (!vm) return { report: reportOf(out) };
  checkVmState(vmId, vm, out);
  const [requirements, libvirtJob] = await Promise.all([hypervisor.requirements(vmId), hypervisor.jobStats(vmId).catch(() => undefined)]);
  checkVmJobs(vmId, ctx.ferryJob, libvirtJob, out);
  checkVmDefinition(requirements, out);
  checkPolicySupport(policy, ctx.features, 'this host', out);
  const copying = policy.copyStorage !== 'none';
  const [disks, storage, source, sourceHostCpuXml, consoles] = await Promise.all([
    copying ? hypervisor.localDisks(vmId) : [],
    gather("the disks' storage", () => deps.storage.inspect(diskPaths(requirements.disks)), out),
    sourceAddress(command, deps.network, out),
    HOST_CPU_MODES.has(requirements.cpu.mode) ? hostCpuOf(requirements, hypervisor, out) : '',
    gather("the VM's consoles", () => sourceConsoles(vmId, deps), out),
  ]);
  const facts = new Map((storage ?? []).map((f) => [f.path, f]));
  const paths = checkSourceDisks(requirements.disks, new Set(disks.map((d) => d.target)), facts, policy.copyStorage, out);
  const args: IncomingCheckArgs = {
    vmId,
    sourceMigrationAddress: source?.address ?? '',
    dstqemu: command.dstqemu,
    migrationNetwork: command.migrationNetwork,
    policy,
    guest: {
      virtType: requirements.virtType,
      arch: requirements.arch,
      machine: requirements.machine,
      emulator: requirements.emulator,
      cpu: requirements.cpu,
      sourceHostCpuXml,
      memoryBytes: requirements.memoryBytes,
      hugepageBytes: requirements.hugepageBytes,
      nics: requirements.nics,
    },
    paths: [...paths, ...requirements.bootFiles],
    disks: imageSpecsOf(disks, policy.copyStorage),
    sourceVersions: { libvirt: ctx.features.libvirtVersion, qemu: ctx.features.qemuVersion },
  };
  const destination = await askDestination(command.dst, args, ctx, deps.peers);
  const displayFindings = new Findings('destination');
  // An unreachable destination answered nothing to judge the consoles by: it is reported as such.
  if (consoles && destination.displayAddress !== undefined) checkConsoles(consoles, destination.displayAddress, out, displayFindings);
  return {
    report: reportOf(out, destination, displayFindings),
    facts: { vm, disks, source, consoles },
  };
}

/** The VM's consoles judged against this host's own addresses (configured ones: a NIC that is down keeps its address). */
export async function sourceConsoles(vmId: string, deps: Pick<OutgoingCheckDeps, 'hypervisor' | 'network'>): Promise<SourceConsoles> {
  const [listens, local] = await Promise.all([deps.hypervisor.displayListens(vmId), deps.network.configuredAddresses()]);
  return classifyConsoles(
    listens,
    local.map((a) => a.address),
  );
}

async function describe(vmId: string, hypervisor: Hypervisor, out: Findings): Promise<VmInfo | undefined> {
  try {
    return await hypervisor.describeVm(vmId);
  } catch (err) {
    if (!isFerryError(err, 'NOT_FOUND')) throw err;
    out.block('VM_NOT_FOUND', `no VM ${vmId} on this host: ask the host it runs on`);
    return undefined;
  }
}

/** The address the pinhole will admit; a host without one is a finding, a malformed request an error. */
async function sourceAddress(command: MigrateCommand, network: HostNetwork, out: Findings): Promise<SourceAddress | undefined> {
  try {
    return await chooseSourceAddress(command, network);
  } catch (err) {
    if (!isFerryError(err, 'FAILED_PRECONDITION')) throw err;
    out.block('NO_MIGRATION_ADDRESS', err.message);
    return undefined;
  }
}

/** The source host's CPU as libvirt's host-model describes it, for a guest that sees the host's own. */
async function hostCpuOf(requirements: VmRequirements, hypervisor: Hypervisor, out: Findings): Promise<string> {
  const support = await gather("this host's CPU", () => hypervisor.guestSupport(guestQuery(requirements)), out);
  return support?.offered ? support.hostCpuXml : '';
}

async function askDestination(
  dst: string,
  args: IncomingCheckArgs,
  ctx: OutgoingCheckContext,
  peers: PeerAgents,
): Promise<CheckFindings & Partial<Pick<IncomingCheckAnswer, 'displayAddress'>>> {
  const out = new Findings('destination');
  const call = (ctx.span ?? noopSpan).child('CheckIncoming', { kind: 'client', attributes: { 'ferry.destination': dst } });
  try {
    const findings = await peers.checkIncoming(dst, { ...args, trace: call.context });
    call.setAttribute('ferry.check.blocking', findings.blocking.length);
    return findings;
  } catch (err) {
    call.recordError(err);
    if (isFerryError(err, 'UNIMPLEMENTED')) {
      out.warn(
        'CHECK_INCOMPLETE',
        `destination agent ${dst} does not check incoming migrations (an older Ferry): its side was not checked`,
      );
    } else if (ctx.unreachable === 'report' && unreachable(err)) {
      out.block('DESTINATION_UNREACHABLE', `${err.message}: check dst and that ferryd runs there`);
    } else {
      throw err;
    }
    return out;
  } finally {
    call.end();
  }
}

function unreachable(err: unknown): err is FerryError {
  return isFerryError(err) && (err.reason === 'DESTINATION_UNREACHABLE' || err.reason === 'DESTINATION_TIMEOUT');
}
