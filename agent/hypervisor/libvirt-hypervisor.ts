/**
 * The Hypervisor port over Ferry's libvirt client: the only place that knows
 * libvirt's flags, typed-parameter names and error codes. It turns the core's
 * LiveMigrationPlan into one P2P DOMAIN_MIGRATE_PERFORM3_PARAMS call, and
 * libvirt's errors into FerryErrors that keep libvirt's code.
 */
import { FerryError, type ErrorKind } from '../../shared/errors.js';
import {
  constants as c, isNoDomain, LibvirtError, ConnectionError, InterruptedError, ClosedError, CallTimeoutError,
  type Domain, type JobStats as LibvirtJobStats, type LibvirtClient, type ReconnectingClient,
} from '../libvirt/index.js';
import type { HostFeatures } from '../migration/policy.js';
import type { Hypervisor, LiveMigrationPlan, VmDisk, VmInfo, VmState } from '../migration/ports.js';
import type { JobStats } from '../migration/types.js';
import { diskImagesOf } from './domain-disks.js';
import { jobStatsFrom } from './job-stats.js';
import { featuresOf, migrateFlags, migrateParams } from './migrate-params.js';

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
  /** Completed-job statistics from JOB_COMPLETED events, by VM, until read once. */
  private readonly completed = new Map<string, JobStats>();

  constructor(private readonly libvirt: ReconnectingClient) {}

  async describeVm(vmId: string): Promise<VmInfo> {
    return translate(async () => {
      const client = await this.libvirt.client();
      const dom = await client.domainLookupByUUID(vmId);
      const [state, xml] = await Promise.all([client.domainGetState(dom), client.domainGetXMLDesc(dom)]);
      return { id: vmId, name: dom.name, state: STATE[state.state] ?? 'other', memoryBytes: memoryOf(xml) };
    }, vmId);
  }

  async localDisks(vmId: string): Promise<VmDisk[]> {
    return translate(async () => {
      const client = await this.libvirt.client();
      const dom = await client.domainLookupByUUID(vmId);
      const images = diskImagesOf(await client.domainGetXMLDesc(dom));
      return Promise.all(images.map(async (image) => {
        const sizes = await client.domainGetBlockInfo(dom, image.target);
        return { ...image, capacityBytes: sizes.capacity, allocationBytes: sizes.allocation };
      }));
    }, vmId);
  }

  async features(): Promise<HostFeatures> {
    return translate(async () => {
      const client = await this.libvirt.client();
      const [libvirt, qemu] = await Promise.all([client.connectGetLibVersion(), client.connectGetVersion()]);
      return featuresOf(libvirt, qemu);
    }, 'host');
  }

  async migrateLive(vmId: string, plan: LiveMigrationPlan): Promise<void> {
    // UNDEFINE_SOURCE takes the domain, and its completed-job statistics (the
    // measured downtime), with it: libvirt's JOB_COMPLETED event carries them first.
    this.completed.delete(vmId);
    const off = await this.libvirt
      .subscribe(c.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED, (event) => {
        if (event.domain.uuid !== vmId) return;
        this.completed.set(vmId, jobStatsFrom({ type: c.VIR_DOMAIN_JOB_COMPLETED, typeName: 'COMPLETED', params: event.params, stats: event.stats }, false));
      })
      .catch(() => undefined); // the statistics are then simply missing
    try {
      await translate(async () => {
        const client = await this.libvirt.client();
        const dom = await client.domainLookupByUUID(vmId);
        const perform = client.domainMigratePerform3Params(dom, plan.destinationUri, migrateParams(plan), migrateFlags(plan), { timeoutMs: 0 });
        if (plan.initialDowntimeMs > 0) void this.setDowntimeOnceStarted(client, dom, plan.initialDowntimeMs, perform);
        await perform;
      }, vmId);
    } finally {
      // The event may trail perform's reply by a moment.
      setTimeout(() => void off?.().catch(() => undefined), 2000).unref();
    }
  }

  async jobStats(vmId: string): Promise<JobStats> {
    return translate(async () => {
      const client = await this.libvirt.client();
      const dom = await client.domainLookupByUUID(vmId);
      const [stats, state] = await Promise.all([client.domainGetJobStats(dom, 0), client.domainGetState(dom)]);
      const postcopy =
        (state.state === c.VIR_DOMAIN_PAUSED && state.reason === c.VIR_DOMAIN_PAUSED_POSTCOPY) ||
        (state.state === c.VIR_DOMAIN_RUNNING && state.reason === c.VIR_DOMAIN_RUNNING_POSTCOPY);
      return jobStatsFrom(stats, postcopy);
    }, vmId);
  }

  async completedJobStats(vmId: string): Promise<JobStats | undefined> {
    const client = await this.libvirt.client();
    // After an outgoing migration the domain is gone from this host: the
    // statistics then come from the JOB_COMPLETED event (migrateLive).
    const dom = await client.domainLookupByUUID(vmId).catch(() => undefined);
    if (!dom) return this.completedFromEvent(vmId);
    const stats = await client.domainGetJobStats(dom, c.VIR_DOMAIN_JOB_STATS_COMPLETED).catch(() => undefined);
    return stats && stats.type !== c.VIR_DOMAIN_JOB_NONE ? jobStatsFrom(stats, false) : undefined;
  }

  async abortJob(vmId: string, options: { postcopy: boolean }): Promise<void> {
    await this.withDomain(vmId, (client, dom) =>
      options.postcopy ? client.domainAbortJobFlags(dom, c.VIR_DOMAIN_ABORT_JOB_POSTCOPY) : client.domainAbortJob(dom),
    );
  }

  async setMaxDowntime(vmId: string, ms: number): Promise<void> {
    await this.withDomain(vmId, (client, dom) => client.domainMigrateSetMaxDowntime(dom, ms));
  }

  async setMaxSpeed(vmId: string, mibps: number, options: { postcopy?: boolean } = {}): Promise<void> {
    // libvirt's "unlimited" is its maximum, not 0; post-copy has its own cap (0 = unlimited there).
    const speed = options.postcopy ? mibps : mibps === 0 ? 8_796_093_022_207n : mibps;
    const flags = options.postcopy ? c.VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY : 0;
    await this.withDomain(vmId, (client, dom) => client.domainMigrateSetMaxSpeed(dom, speed, flags));
  }

  async startPostCopy(vmId: string): Promise<void> {
    await this.withDomain(vmId, (client, dom) => client.domainMigrateStartPostCopy(dom));
  }

  async suspend(vmId: string): Promise<void> {
    await this.withDomain(vmId, (client, dom) => client.domainSuspend(dom));
  }

  async resume(vmId: string): Promise<void> {
    await this.withDomain(vmId, (client, dom) => client.domainResume(dom));
  }

  async save(vmId: string, path: string): Promise<void> {
    await this.withDomain(vmId, (client, dom) => client.domainSaveFlags(dom, path, null, 0, { timeoutMs: 0 }));
  }

  async definition(vmId: string): Promise<string> {
    return this.withDomain(vmId, (client, dom) => client.domainGetXMLDesc(dom, c.VIR_DOMAIN_XML_MIGRATABLE));
  }

  async restore(path: string, definition: string, paused: boolean): Promise<{ id: string; name: string }> {
    return translate(async () => {
      const client = await this.libvirt.client();
      await client.domainRestoreFlags(path, null, paused ? c.VIR_DOMAIN_SAVE_PAUSED : c.VIR_DOMAIN_SAVE_RUNNING, { timeoutMs: 0 });
      const uuid = /<uuid>([^<]+)<\/uuid>/.exec(definition)?.[1];
      const dom = uuid ? await client.domainLookupByUUID(uuid) : undefined;
      return { id: dom?.uuid ?? uuid ?? '', name: dom?.name ?? '' };
    }, path);
  }

  onIteration(vmId: string, listener: (iteration: number) => void): () => void {
    let off: (() => Promise<void>) | undefined;
    let stopped = false;
    void this.libvirt
      .subscribe(c.VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION, (event) => {
        if (event.domain.uuid === vmId) listener(event.iteration);
      })
      .then((unsubscribe) => (stopped ? void unsubscribe().catch(() => undefined) : (off = unsubscribe)))
      .catch(() => undefined); // progress then comes from polling alone
    return () => {
      stopped = true;
      void off?.().catch(() => undefined);
    };
  }

  private async completedFromEvent(vmId: string): Promise<JobStats | undefined> {
    for (let waited = 0; !this.completed.has(vmId) && waited < 2000; waited += 100) await new Promise((r) => setTimeout(r, 100));
    const stats = this.completed.get(vmId);
    this.completed.delete(vmId);
    return stats;
  }

  private async withDomain<T>(vmId: string, fn: (client: LibvirtClient, dom: Domain) => Promise<T>): Promise<T> {
    return translate(async () => {
      const client = await this.libvirt.client();
      return fn(client, await client.domainLookupByUUID(vmId));
    }, vmId);
  }

  /** libvirt accepts a max downtime only once the migration job exists. */
  private async setDowntimeOnceStarted(client: LibvirtClient, dom: Domain, ms: number, perform: Promise<unknown>): Promise<void> {
    let done = false;
    perform.then(() => (done = true), () => (done = true));
    for (let attempt = 0; attempt < 50 && !done; attempt++) {
      const stats: LibvirtJobStats | undefined = await client.domainGetJobStats(dom, 0, { timeoutMs: 5000 }).catch(() => undefined);
      if (stats && stats.type !== c.VIR_DOMAIN_JOB_NONE) {
        await client.domainMigrateSetMaxDowntime(dom, ms, 0, { timeoutMs: 5000 }).catch(() => undefined);
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function memoryOf(xml: string): number {
  const match = /<currentMemory unit='(\w+)'>(\d+)<\/currentMemory>/.exec(xml) ?? /<memory unit='(\w+)'>(\d+)<\/memory>/.exec(xml);
  if (!match) return 0;
  const scale: Record<string, number> = { b: 1, bytes: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
  return Number(match[2]) * (scale[match[1]!] ?? 1024);
}

/** Runs fn, turning libvirt's errors into FerryErrors that keep its code. */
async function translate<T>(fn: () => Promise<T>, subject: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toFerryError(err, subject);
  }
}

export function toFerryError(err: unknown, subject: string): unknown {
  if (err instanceof FerryError) return err;
  if (err instanceof LibvirtError) {
    const kind: ErrorKind = isNoDomain(err) ? 'NOT_FOUND' : kindOfLibvirtCode(err.code);
    const message = isNoDomain(err) ? `no VM ${subject} on this host (libvirt: ${err.message})` : `libvirt: ${err.message}`;
    return new FerryError(kind, message, { libvirtCode: err.code, libvirtName: err.codeName }, { cause: err });
  }
  if (err instanceof ConnectionError || err instanceof InterruptedError || err instanceof ClosedError) {
    return new FerryError('UNAVAILABLE', `libvirt is not reachable: ${err.message}`, {}, { cause: err });
  }
  if (err instanceof CallTimeoutError) return new FerryError('DEADLINE_EXCEEDED', `libvirt: ${err.message}`, {}, { cause: err });
  return err;
}

function kindOfLibvirtCode(code: number): ErrorKind {
  switch (code) {
    case c.VIR_ERR_OPERATION_INVALID:
      return 'FAILED_PRECONDITION';
    case c.VIR_ERR_OPERATION_ABORTED:
      return 'ABORTED';
    case c.VIR_ERR_OPERATION_TIMEOUT:
      return 'DEADLINE_EXCEEDED';
    case c.VIR_ERR_INVALID_ARG:
      return 'INVALID_ARGUMENT';
    case c.VIR_ERR_NO_SUPPORT:
    case c.VIR_ERR_ARGUMENT_UNSUPPORTED:
      return 'UNIMPLEMENTED';
    case c.VIR_ERR_SYSTEM_ERROR:
    case c.VIR_ERR_RPC:
      return 'UNAVAILABLE';
    default:
      return 'INTERNAL';
  }
}
