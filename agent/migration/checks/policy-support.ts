/**
 * The policy against one host's libvirt and QEMU: the same predicate
 * (policy.ts's featureGaps) that makes Migrate refuse on the source decides
 * on the destination too, since both ends of a migration must speak it.
 */
import { featureGaps, type HostFeatures } from '../policy/policy.js';
import type { MigrationPolicy } from '../types.js';
import type { Findings } from './findings.js';

/** `host` names the host in the messages ("this host", "the destination"). */
export function checkPolicySupport(policy: MigrationPolicy, features: HostFeatures, host: string, out: Findings): void {
  for (const gap of featureGaps(policy, features, host)) out.block('POLICY_UNSUPPORTED', gap.error.message);
}
