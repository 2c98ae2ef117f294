/**
 * The host's side of every policy: what this host's libvirt/QEMU support
 * (asked once libvirt answers) and its defaults (read at every call: SIGHUP
 * may change them). Apart from the intake because Migrate, CheckMigration and
 * a maintenance's drain all resolve a request's policy against the same two.
 */
import type { Hypervisor } from '../ports.js';
import { BASELINE_FEATURES, BUILTIN_DEFAULTS, type HostFeatures, resolvePolicy } from '../policy/policy.js';
import type { MigrateRequest, MigrationPolicy } from '../types.js';

export interface HostPolicyDeps {
  hypervisor: Pick<Hypervisor, 'features'>;
  /** The host's policy defaults; default BUILTIN_DEFAULTS. */
  policyDefaults?: () => MigrationPolicy;
}

export class HostPolicy {
  /** What this host's libvirt/QEMU support, asked once libvirt answers. */
  private features: Promise<HostFeatures> | undefined;

  constructor(private readonly deps: HostPolicyDeps) {}

  /** The host's defaults as they are now. */
  defaults(): MigrationPolicy {
    return this.deps.policyDefaults?.() ?? BUILTIN_DEFAULTS;
  }

  /** The request's policy against the host's defaults and what its libvirt/QEMU support (INVALID_ARGUMENT, or FAILED_PRECONDITION for what this host lacks). */
  async resolve(policy: MigrateRequest['policy']): Promise<MigrationPolicy> {
    const defaults = this.defaults();
    return resolvePolicy(policy, defaults, await this.hostFeatures());
  }

  /** Until libvirt answers (or if it cannot tell) the oldest supported stack is assumed, and asked again next time. */
  hostFeatures(): Promise<HostFeatures> {
    if (!this.features) {
      this.features = this.deps.hypervisor.features().catch(() => {
        this.features = undefined;
        return BASELINE_FEATURES;
      });
    }
    return this.features;
  }
}
