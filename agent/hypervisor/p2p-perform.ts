/**
 * The P2P perform calls: a live migration, and the resume of a post-copy that
 * broke, each one DOMAIN_MIGRATE_PERFORM3_PARAMS to this host's libvirtd on a
 * connection of its own, from the core's LiveMigrationPlan. Apart from
 * libvirt-hypervisor.ts because these are the long calls (no deadline: they
 * last as long as the migration and end when the connection drops), with the
 * initial downtime set beside the call once libvirt's job exists.
 */
import { constants as c, type Domain, type JobStats as LibvirtJobStats, type ReconnectingClient } from '../libvirt/index.js';
import type { Clock, LiveMigrationPlan } from '../migration/index.js';
import type { CompletedJobs } from './completed-jobs.js';
import { displayParams } from './display-params.js';
import { translate } from './libvirt-errors.js';
import { migrateFlags, migrateParams } from './migrate-params.js';

export interface PerformDeps {
  libvirt: ReconnectingClient;
  /** Where libvirt's JOB_COMPLETED statistics of the VM are kept once it left. */
  completed: CompletedJobs;
  /** Paces the initial downtime's polling. */
  clock: Clock;
}

/** Resolves when libvirt reports the migration complete; the perform call is sent once `sendAfter` resolves. */
export async function performLive(
  deps: PerformDeps,
  vmId: string,
  plan: LiveMigrationPlan,
  options: { sendAfter?: Promise<void> },
): Promise<void> {
  await translate(
    () =>
      deps.libvirt.withDedicatedConnection(async (client) => {
        const [dom] = await Promise.all([client.domainLookupByUUID(vmId), deps.completed.expect(vmId)]);
        const params = { ...migrateParams(plan), ...(plan.display ? await displayParams(client, dom, plan.display) : {}) };
        await options.sendAfter;
        const perform = client.domainMigratePerform3Params(dom, plan.dconnuri, params, migrateFlags(plan), { timeoutMs: 0 });
        if (plan.initialDowntimeMs > 0) void setDowntimeOnceStarted(deps, dom, plan.initialDowntimeMs, perform);
        await perform;
      }),
    vmId,
  );
}

export async function performPostcopyResume(deps: PerformDeps, vmId: string, plan: LiveMigrationPlan): Promise<void> {
  // The original flags (POSTCOPY among them, as qemuMigrationAnyCanResume
  // requires) plus POSTCOPY_RESUME; the P2P call runs libvirt's whole resume
  // sequence (Begin, Prepare on the destination, Perform, Finish, Confirm)
  // and answers once the migration completed.
  await translate(
    () =>
      deps.libvirt.withDedicatedConnection(async (client) => {
        const [dom] = await Promise.all([client.domainLookupByUUID(vmId), deps.completed.expect(vmId)]);
        const flags = migrateFlags({ ...plan, postCopy: true }) | c.VIR_MIGRATE_POSTCOPY_RESUME;
        await client.domainMigratePerform3Params(dom, plan.dconnuri, migrateParams(plan), flags, { timeoutMs: 0 });
      }),
    vmId,
  );
}

/** libvirt accepts a max downtime only once the migration job exists. */
async function setDowntimeOnceStarted(deps: PerformDeps, dom: Domain, ms: number, perform: Promise<unknown>): Promise<void> {
  const client = await deps.libvirt.client().catch(() => undefined);
  if (!client) return;
  let done = false;
  perform.then(
    () => (done = true),
    () => (done = true),
  );
  for (let attempt = 0; attempt < 50 && !done; attempt++) {
    const stats: LibvirtJobStats | undefined = await client.domainGetJobStats(dom, 0, { timeoutMs: 5000 }).catch(() => undefined);
    if (stats && stats.type !== c.VIR_DOMAIN_JOB_NONE) {
      await client.domainMigrateSetMaxDowntime(dom, ms, 0, { timeoutMs: 5000 }).catch(() => undefined);
      return;
    }
    await deps.clock.sleep(100);
  }
}
