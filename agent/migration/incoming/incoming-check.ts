/**
 * CheckIncoming: whether this host can receive the VM the source describes.
 * Every fact is read at once (a failure to read one is a finding of its
 * own, checks/gather.ts), compared by the checks in ../checks/, and the
 * findings are listed in a fixed order, the most fundamental first: the
 * guest's virt type, emulator, machine type and CPU, then memory, versions
 * and policy, networks, storage, the migration address, and what would only
 * make the job wait. Nothing is reserved, created or opened.
 */
import { isFerryError } from '../../../shared/errors.js';
import { checkAdmission } from '../checks/destination-admission.js';
import { checkGuestCpu } from '../checks/destination-cpu.js';
import { checkImageSites, checkRequiredPaths } from '../checks/destination-disks.js';
import { checkGuestSupport, guestQuery } from '../checks/destination-guest.js';
import { checkNics, nicNeeds } from '../checks/destination-networks.js';
import { checkHugepages, checkMemory, checkVersions } from '../checks/destination-resources.js';
import { Findings, mergeFindings } from '../checks/findings.js';
import { gather } from '../checks/gather.js';
import { checkPolicySupport } from '../checks/policy-support.js';
import type { DiskImages, HostNetwork, Hypervisor, IncomingCheckAnswer, IncomingCheckArgs, PinholeGate, StoragePaths } from '../ports.js';
import { displayAddressOf, type DisplayNetwork } from './display-address.js';
import { chooseListenAddress } from './listen-address.js';
import { requireMigrationLinkUp } from './migration-link.js';

/** What the destination's checks read, besides the network and pinholes PrepareIncoming uses too. */
export interface IncomingCheckPorts {
  hypervisor: Pick<Hypervisor, 'features' | 'guestSupport' | 'compareCpu' | 'availableMemory' | 'freeHugepages' | 'activeNetworks'>;
  storage: StoragePaths;
  /** /dev/kvm exists here and QEMU may open it (the host facts know it). */
  kvmAvailable: () => Promise<boolean>;
}

export interface IncomingCheckContext extends IncomingCheckPorts {
  network: HostNetwork;
  /** display.network in force, null for none. */
  displayNetwork: DisplayNetwork | null;
  pinholes: PinholeGate;
  images: DiskImages | undefined;
  /** Incoming migrations prepared now, the limit in force, and whether the host is in maintenance (it then takes none). */
  incoming: { count: number; limit: number; maintenance: boolean };
}

export async function checkIncoming(args: IncomingCheckArgs, ctx: IncomingCheckContext): Promise<IncomingCheckAnswer> {
  const { guest } = args;
  const { hypervisor } = ctx;
  const part = () => new Findings('destination');
  const [guestPart, resources, networks, storage, address] = [part(), part(), part(), part(), part()];
  const needs = nicNeeds(guest.nics);
  const [display] = await Promise.all([
    displayAddressOf(ctx.network, ctx.displayNetwork),
    (async () => {
      const kvm = guest.virtType === 'kvm' ? await gather('/dev/kvm', ctx.kvmAvailable, guestPart) : true;
      const offered = await gather(
        "the guest's virt type, emulator and machine type",
        () => checkGuestSupport(guest, kvm ?? true, (q) => hypervisor.guestSupport(q), guestPart),
        guestPart,
      );
      if (offered) {
        await gather(
          "the guest's CPU",
          () => checkGuestCpu(guest, guestQuery(guest), (q, xml) => hypervisor.compareCpu(q, xml), guestPart),
          guestPart,
        );
      }
    })(),
    (async () => {
      const [available, freePages, features] = await Promise.all([
        gather('the free memory', () => hypervisor.availableMemory(), resources),
        guest.hugepageBytes > 0 ? gather('the free huge pages', () => hypervisor.freeHugepages(guest.hugepageBytes), resources) : undefined,
        gather('the libvirt and QEMU versions', () => hypervisor.features(), resources),
      ]);
      if (available !== undefined) checkMemory(guest.memoryBytes, available, resources);
      if (freePages !== undefined) checkHugepages(guest.memoryBytes, guest.hugepageBytes, freePages, resources);
      if (features) {
        checkVersions(args.sourceVersions, features, resources);
        checkPolicySupport(args.policy, features, 'the destination', resources);
      }
    })(),
    (async () => {
      const [interfaces, active] = await Promise.all([
        needs.interfaces ? gather('the host interfaces', async () => new Set(await ctx.network.interfaceNames()), networks) : undefined,
        needs.networks ? gather('the libvirt networks', async () => new Set(await hypervisor.activeNetworks()), networks) : undefined,
      ]);
      checkNics(guest.nics, interfaces, active, networks);
    })(),
    checkStorage(args, ctx, storage),
    checkAddress(args, ctx, address),
  ]);
  if (display.problem) {
    // The guest's consoles are the source's to judge (it answers GRAPHICS_LISTEN_ADDRESS when one must move): here, only why none could.
    address.warn(
      'GRAPHICS_LISTEN_ADDRESS',
      `${display.problem}: guests whose console listens on an address of their source cannot migrate here`,
    );
  }
  const admission = part();
  checkAdmission(ctx.incoming, { free: ctx.pinholes.freePorts(), needed: args.disks.length > 0 ? 2 : 1 }, admission);
  return { ...mergeFindings(guestPart, resources, networks, storage, address, admission), displayAddress: display.address };
}

async function checkStorage(args: IncomingCheckArgs, ctx: IncomingCheckContext, out: Findings): Promise<void> {
  const { images } = ctx;
  const [paths, sites] = await Promise.all([
    args.paths.length > 0 ? gather('the disk paths', () => ctx.storage.inspect(args.paths.map((p) => p.path)), out) : undefined,
    args.disks.length > 0 && images ? gather('the room for disk images', () => images.survey(args.disks), out) : undefined,
  ]);
  if (paths) checkRequiredPaths(args.paths, paths, out);
  if (args.disks.length > 0 && !images) {
    out.block(
      'DISK_PATH_NOT_ALLOWED',
      'the destination creates no disk images (it has no storage adapter): migrate with copy_storage none',
    );
  }
  if (sites) checkImageSites(args.disks, sites, out);
}

/** The migration address, as PrepareIncoming would choose it; a request that names a wrong dstqemu is refused as it would be there. */
async function checkAddress(args: IncomingCheckArgs, ctx: IncomingCheckContext, out: Findings): Promise<void> {
  // The legacy fallback faces the source's address: nothing to check while the source has none.
  if (!args.dstqemu && !args.migrationNetwork && !args.sourceMigrationAddress) return;
  let listen: Awaited<ReturnType<typeof chooseListenAddress>>;
  try {
    listen = await chooseListenAddress(ctx.network, args);
  } catch (err) {
    if (!isFerryError(err, 'FAILED_PRECONDITION')) throw err;
    out.block('NO_MIGRATION_ADDRESS', err.message);
    return;
  }
  try {
    await requireMigrationLinkUp(ctx.network, listen);
  } catch (err) {
    if (!isFerryError(err, 'FAILED_PRECONDITION')) throw err;
    out.block('MIGRATION_NETWORK_DOWN', err.message);
  }
}
