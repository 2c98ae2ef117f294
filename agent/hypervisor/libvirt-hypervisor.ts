/**
 * The Hypervisor port over Ferry's libvirt client: the only place that knows
 * libvirt's flags, typed-parameter names and error codes. It turns the core's
 * LiveMigrationPlan into one P2P DOMAIN_MIGRATE_PERFORM3_PARAMS call
 * (p2p-perform.ts), a cold migration's definition into an offline one
 * (offline-migration.ts), and libvirt's errors into FerryErrors that keep
 * libvirt's code.
 */
import { FerryError } from '../../shared/errors.js';
import { constants as c, type Domain, type LibvirtClient, type ReconnectingClient } from '../libvirt/index.js';
import {
  type HostFeatures,
  systemClock,
  type Clock,
  type CpuVerdict,
  type DisplayListen,
  type GuestQuery,
  type GuestSupport,
  type Hypervisor,
  type DiskMove,
  type LiveMigrationPlan,
  type OfflineMigrationPlan,
  type PostcopyState,
  type VmDisk,
  type VmInfo,
  type VmRequirements,
  type VmState,
  type JobStats,
} from '../migration/index.js';
import { boundedCall, DEFAULT_CALL_TIMEOUT_MS } from './call-deadline.js';
import { CompletedJobs } from './completed-jobs.js';
import { displayListensOfDomain } from './display-params.js';
import { relocateDisks } from './disk-relocation.js';
import { diskImagesOf } from './domain-disks.js';
import { requirementsOf } from './domain-requirements.js';
import { undefineShutOff } from './domain-undefine.js';
import { attr, bytesOf, firstElement } from './domain-xml.js';
import { activeNetworks, availableMemory, compareCpu, freeHugepages, guestSupport } from './host-answers.js';
import { jobStatsFrom } from './job-stats.js';
import { translate } from './libvirt-errors.js';
import { featuresOf } from './migrate-params.js';
import { OFFLINE_MIGRATION_TIMEOUT_MS, performOffline } from './offline-migration.js';
import { performLive, performPostcopyResume, type PerformDeps } from './p2p-perform.js';
import { blockedMainLoop, qemuPid } from './qemu-main-loop.js';

/** How often a followed job (one this process did not start) is checked for its end. */
const FOLLOW_POLL_MS = 500;

const STATE: Record<number, VmState> = {
  [c.VIR_DOMAIN_RUNNING]: 'running',
  [c.VIR_DOMAIN_BLOCKED]: 'running',
  [c.VIR_DOMAIN_PAUSED]: 'paused',
  [c.VIR_DOMAIN_SHUTDOWN]: 'running',
  [c.VIR_DOMAIN_SHUTOFF]: 'shutoff',
  [c.VIR_DOMAIN_CRASHED]: 'crashed',
  [c.VIR_DOMAIN_PMSUSPENDED]: 'suspended',
};

export class LibvirtHypervisor implements Hypervisor {
  private readonly completed: CompletedJobs;

  /**
   * Every call of this port but the long ones (migrateLive, save, restore:
   * they last as long as the operation, and end when the connection drops)
   * is bounded by one deadline here (call-deadline.ts); the core adds none.
   */
  private readonly callTimeoutMs: number;

  /** Paces polling (a followed job, the initial downtime); tests may pass a manual one. */
  private readonly clock: Clock;

  /** Where libvirt's system QEMU driver keeps each running domain's <name>.pid (its state directory). */
  private readonly qemuRunDir: string;

  /** The one deadline of an offline migration (offline-migration.ts). */
  private readonly offlineTimeoutMs: number;

  constructor(
    private readonly libvirt: ReconnectingClient,
    options: { callTimeoutMs?: number; clock?: Clock; qemuRunDir?: string; offlineTimeoutMs?: number } = {},
  ) {
    this.callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.clock = options.clock ?? systemClock;
    this.qemuRunDir = options.qemuRunDir ?? '/run/libvirt/qemu';
    this.offlineTimeoutMs = options.offlineTimeoutMs ?? OFFLINE_MIGRATION_TIMEOUT_MS;
    this.completed = new CompletedJobs(libvirt);
  }

  async describeVm(vmId: string): Promise<VmInfo> {
    return this.short('describe VM', vmId, async () => {
      const client = await this.libvirt.client();
      const dom = await client.domainLookupByUUID(vmId);
      const [state, xml] = await Promise.all([client.domainGetState(dom), client.domainGetXMLDesc(dom)]);
      return { id: vmId, name: dom.name, state: STATE[state.state] ?? 'other', memoryBytes: memoryOf(xml) };
    });
  }

  async localDisks(vmId: string): Promise<VmDisk[]> {
    return this.short('list disks', vmId, async () => {
      const client = await this.libvirt.client();
      const dom = await client.domainLookupByUUID(vmId);
      const images = diskImagesOf(await client.domainGetXMLDesc(dom));
      return Promise.all(
        images.map(async (image) => {
          const sizes = await client.domainGetBlockInfo(dom, image.target);
          return { ...image, capacityBytes: sizes.capacity, allocationBytes: sizes.allocation };
        }),
      );
    });
  }

  async features(): Promise<HostFeatures> {
    return this.onHost('versions', async (client) => {
      const [libvirt, qemu] = await Promise.all([client.connectGetLibVersion(), client.connectGetVersion()]);
      return featuresOf(libvirt, qemu);
    });
  }

  async requirements(vmId: string): Promise<VmRequirements> {
    return this.withDomain(vmId, 'read definition', async (client, dom) => {
      const [xml, persistent] = await Promise.all([client.domainGetXMLDesc(dom), client.domainIsPersistent(dom)]);
      return requirementsOf(xml, persistent);
    });
  }

  async displayListens(vmId: string): Promise<DisplayListen[]> {
    return this.withDomain(vmId, 'read consoles', displayListensOfDomain);
  }

  async guestSupport(query: GuestQuery): Promise<GuestSupport> {
    return this.onHost('domain capabilities', (client) => guestSupport(client, query));
  }

  async compareCpu(query: GuestQuery, cpuXml: string): Promise<CpuVerdict> {
    return this.onHost('compare CPU', (client) => compareCpu(client, query, cpuXml));
  }

  async availableMemory(): Promise<number> {
    return this.onHost('memory stats', availableMemory);
  }

  async freeHugepages(pageBytes: number): Promise<number> {
    return this.onHost('free huge pages', (client) => freeHugepages(client, pageBytes));
  }

  async activeNetworks(): Promise<string[]> {
    return this.onHost('list networks', activeNetworks);
  }

  async migrateLive(vmId: string, plan: LiveMigrationPlan, options: { sendAfter?: Promise<void> } = {}): Promise<void> {
    await performLive(this.performDeps(), vmId, plan, options);
  }

  async resumePostcopy(vmId: string, plan: LiveMigrationPlan): Promise<void> {
    await performPostcopyResume(this.performDeps(), vmId, plan);
  }

  async postcopyState(vmId: string): Promise<PostcopyState> {
    return this.withDomain(vmId, 'get state', async (client, dom) => postcopyStateOf(await client.domainGetState(dom)));
  }

  async recoveryBlocker(vmId: string): Promise<string | undefined> {
    const name = await this.withDomain(vmId, 'look up', async (_client, dom) => dom.name);
    const pid = await qemuPid(this.qemuRunDir, name);
    return pid === undefined ? undefined : blockedMainLoop(pid);
  }

  async followJob(vmId: string, signal: AbortSignal): Promise<JobStats | undefined | 'postcopy-failed'> {
    await this.completed.expect(vmId);
    while (!signal.aborted) {
      // A post-copy that broke keeps libvirt's job alive: it would be followed forever.
      if ((await this.postcopyState(vmId).catch(() => 'none')) === 'failed') return 'postcopy-failed';
      const stats = await this.jobStats(vmId).catch((err: unknown) => {
        if (err instanceof FerryError && err.kind === 'NOT_FOUND') return undefined;
        return 'unknown' as const; // libvirt away for a moment: ask again
      });
      if (stats === undefined || (stats !== 'unknown' && stats.type !== 'bounded' && stats.type !== 'unbounded')) break;
      await this.clock.sleep(FOLLOW_POLL_MS, signal);
    }
    if (signal.aborted) return undefined;
    const final = await this.completedJobStats(vmId).catch(() => undefined);
    return final?.type === 'completed' ? final : undefined;
  }

  async jobStats(vmId: string): Promise<JobStats> {
    return this.short('job stats', vmId, async () => {
      const client = await this.libvirt.client();
      const dom = await client.domainLookupByUUID(vmId);
      const [stats, state] = await Promise.all([client.domainGetJobStats(dom, 0), client.domainGetState(dom)]);
      return jobStatsFrom(stats, postcopyStateOf(state) === 'active');
    });
  }

  async completedJobStats(vmId: string): Promise<JobStats | undefined> {
    return this.short('completed job stats', vmId, async () => {
      const client = await this.libvirt.client();
      // After an outgoing migration the domain is gone from this host: the
      // statistics then come from the JOB_COMPLETED event (migrateLive).
      const dom = await client.domainLookupByUUID(vmId).catch(() => undefined);
      if (!dom) return this.completed.take(vmId);
      const stats = await client.domainGetJobStats(dom, c.VIR_DOMAIN_JOB_STATS_COMPLETED).catch(() => undefined);
      return stats && stats.type !== c.VIR_DOMAIN_JOB_NONE ? jobStatsFrom(stats, false) : undefined;
    });
  }

  async abortJob(vmId: string, options: { postcopy: boolean }): Promise<void> {
    await this.withDomain(vmId, 'abort job', (client, dom) =>
      options.postcopy ? client.domainAbortJobFlags(dom, c.VIR_DOMAIN_ABORT_JOB_POSTCOPY) : client.domainAbortJob(dom),
    );
  }

  async setMaxDowntime(vmId: string, ms: number): Promise<void> {
    await this.withDomain(vmId, 'set max downtime', (client, dom) => client.domainMigrateSetMaxDowntime(dom, ms));
  }

  async setMaxSpeed(vmId: string, mibps: number, options: { postcopy?: boolean } = {}): Promise<void> {
    // libvirt's "unlimited" is its maximum, not 0; post-copy has its own cap (0 = unlimited there).
    const speed = options.postcopy ? mibps : mibps === 0 ? 8_796_093_022_207n : mibps;
    const flags = options.postcopy ? c.VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY : 0;
    await this.withDomain(vmId, 'set max speed', (client, dom) => client.domainMigrateSetMaxSpeed(dom, speed, flags));
  }

  async startPostCopy(vmId: string): Promise<void> {
    await this.withDomain(vmId, 'start post-copy', (client, dom) => client.domainMigrateStartPostCopy(dom));
  }

  async suspend(vmId: string): Promise<void> {
    await this.withDomain(vmId, 'suspend', (client, dom) => client.domainSuspend(dom));
  }

  async resume(vmId: string): Promise<void> {
    await this.withDomain(vmId, 'resume', (client, dom) => client.domainResume(dom));
  }

  async save(vmId: string, path: string): Promise<void> {
    // Long: no deadline; it ends when libvirt answers or the connection drops.
    await translate(
      () =>
        this.libvirt.withDedicatedConnection(async (client) => {
          await client.domainSaveFlags(await client.domainLookupByUUID(vmId), path, null, 0, { timeoutMs: 0 });
        }),
      vmId,
    );
  }

  async definition(vmId: string): Promise<string> {
    // SECURE: with its secrets (a VNC or SPICE password). libvirt 9.0 gives them with MIGRATABLE
    // alone (test/integration/libvirt-offline-migration.test.ts sees them either way), but only
    // SECURE is documented to, and a restore elsewhere from a copy without them (dxml) would
    // open the guest's console to anyone. The file it goes to is 0600.
    return this.withDomain(vmId, 'get XML', (client, dom) =>
      client.domainGetXMLDesc(dom, c.VIR_DOMAIN_XML_MIGRATABLE | c.VIR_DOMAIN_XML_SECURE),
    );
  }

  async restore(
    path: string,
    definition: string,
    paused: boolean,
    options: { relocated?: boolean } = {},
  ): Promise<{ id: string; name: string }> {
    // dxml replaces the definition saved in the state file (its disks at the
    // source's paths); libvirt accepts it when only host-side parts such as
    // disk paths changed (https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainRestoreFlags).
    const dxml = options.relocated ? definition : null;
    return translate(async () => {
      await this.libvirt.withDedicatedConnection((dedicated) =>
        dedicated.domainRestoreFlags(path, dxml, paused ? c.VIR_DOMAIN_SAVE_PAUSED : c.VIR_DOMAIN_SAVE_RUNNING, { timeoutMs: 0 }),
      );
      const client = await this.libvirt.client();
      const uuid = /<uuid>([^<]+)<\/uuid>/.exec(definition)?.[1];
      const dom = uuid ? await client.domainLookupByUUID(uuid) : undefined;
      return { id: dom?.uuid ?? uuid ?? '', name: dom?.name ?? '' };
    }, path);
  }

  async migrateOffline(vmId: string, plan: OfflineMigrationPlan): Promise<void> {
    await performOffline(this.libvirt, vmId, plan, this.offlineTimeoutMs);
  }

  async undefine(vmId: string): Promise<void> {
    await this.short('undefine', vmId, async () => undefineShutOff(await this.libvirt.client(), vmId));
  }

  relocateDisks(domainXml: string, moves: readonly DiskMove[]): string {
    return relocateDisks(domainXml, moves);
  }

  onIteration(vmId: string, listener: (iteration: number) => void): () => void {
    let off: (() => Promise<void>) | undefined;
    let stopped = false;
    void this.libvirt
      .subscribe(c.VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION, (event) => {
        if (event.domain.uuid === vmId) listener(event.iteration);
      })
      .then((unsubscribe) => {
        if (stopped) void unsubscribe().catch(() => undefined);
        else off = unsubscribe;
      })
      .catch(() => undefined); // progress then comes from polling alone
    return () => {
      stopped = true;
      void off?.().catch(() => undefined);
    };
  }

  private async withDomain<T>(vmId: string, what: string, fn: (client: LibvirtClient, dom: Domain) => Promise<T>): Promise<T> {
    return this.short(what, vmId, async () => {
      const client = await this.libvirt.client();
      return fn(client, await client.domainLookupByUUID(vmId));
    });
  }

  /** A short call about the host rather than a VM. */
  private onHost<T>(what: string, fn: (client: LibvirtClient) => Promise<T>): Promise<T> {
    return this.short(what, 'host', async () => fn(await this.libvirt.client()));
  }

  private short<T>(what: string, subject: string, fn: () => Promise<T>): Promise<T> {
    return boundedCall(this.callTimeoutMs, what, subject, fn);
  }

  /** What the perform calls (p2p-perform.ts) use of this adapter. */
  private performDeps(): PerformDeps {
    return { libvirt: this.libvirt, completed: this.completed, clock: this.clock };
  }
}

/** libvirt's state reasons of a post-copy (virDomainPausedReason, virDomainRunningReason). */
function postcopyStateOf(state: { state: number; reason: number }): PostcopyState {
  if (state.state === c.VIR_DOMAIN_PAUSED) {
    if (state.reason === c.VIR_DOMAIN_PAUSED_POSTCOPY) return 'active';
    if (state.reason === c.VIR_DOMAIN_PAUSED_POSTCOPY_FAILED) return 'failed';
  }
  if (state.state === c.VIR_DOMAIN_RUNNING) {
    if (state.reason === c.VIR_DOMAIN_RUNNING_POSTCOPY) return 'active';
    if (state.reason === c.VIR_DOMAIN_RUNNING_POSTCOPY_FAILED) return 'failed';
  }
  return 'none';
}

/** The guest's memory now (currentMemory, the balloon's target), else its maximum. */
function memoryOf(xml: string): number {
  const element = firstElement(xml, 'currentMemory') ?? firstElement(xml, 'memory');
  return element ? bytesOf(element.body.trim(), attr(element.attributes, 'unit')) : 0;
}
