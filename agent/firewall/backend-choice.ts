/**
 * Which firewall backend enforces the pinholes, decided from what the host has
 * (pure: the probe in backend-probe.ts gathers the facts).
 *
 * `auto` picks nftables where iptables is absent or is itself the nf_tables
 * variant (`iptables --version` says "(nf_tables)"): the rules then live in
 * nftables anyway, as on Debian 11+, RHEL 9 (which deprecates iptables) and
 * with firewalld since 0.6.0. A host whose iptables is the legacy (x_tables)
 * variant keeps iptables: legacy and nftables rules both apply, and the
 * operator's tools there read x_tables. kube-proxy decides the same way for its
 * own default (KEP-3866).
 */
import type { FirewallBackendName } from './firewall.js';

export const FIREWALL_BACKEND_SETTINGS = ['auto', 'nftables', 'iptables', 'none'] as const;
export type FirewallBackendSetting = (typeof FIREWALL_BACKEND_SETTINGS)[number];

export interface FirewallHostFacts {
  /** `nft` runs (its --version answered). */
  nftPresent: boolean;
  /** `iptables --version` output; undefined when there is no iptables. */
  iptablesVersion: string | undefined;
}

export interface BackendChoice {
  backend: FirewallBackendName;
  /** One sentence for GetCapabilities and the log: why this backend. */
  reason: string;
}

export type IptablesVariant = 'nf_tables' | 'legacy' | 'unknown';

/** "iptables v1.8.9 (nf_tables)" → nf_tables; "(legacy)" → legacy; 1.6 and older print neither: legacy is all they had. */
export function iptablesVariant(versionOutput: string): IptablesVariant {
  if (/\(nf_tables\)/.test(versionOutput)) return 'nf_tables';
  if (/\(legacy\)/.test(versionOutput)) return 'legacy';
  const m = /v(\d+)\.(\d+)/.exec(versionOutput);
  if (m && (Number(m[1]) < 1 || (Number(m[1]) === 1 && Number(m[2]) < 8))) return 'legacy';
  return 'unknown';
}

export function chooseFirewallBackend(setting: FirewallBackendSetting, facts: FirewallHostFacts): BackendChoice {
  const version = facts.iptablesVersion?.trim().split('\n')[0];
  switch (setting) {
    case 'none':
      return { backend: 'none', reason: 'firewall.backend is "none": the operator\'s firewall must admit migrations' };
    case 'iptables':
      return { backend: 'iptables', reason: 'firewall.backend is "iptables"' };
    case 'nftables':
      return { backend: 'nftables', reason: 'firewall.backend is "nftables"' };
    case 'auto':
      break;
  }
  if (!facts.nftPresent) {
    return {
      backend: 'iptables',
      reason: `firewall.backend is "auto" and nft is not installed${version ? ` (${version})` : ''}: iptables`,
    };
  }
  if (version === undefined)
    return { backend: 'nftables', reason: 'firewall.backend is "auto", nft is installed and iptables is not: nftables' };
  const variant = iptablesVariant(version);
  if (variant === 'nf_tables') {
    return {
      backend: 'nftables',
      reason: `firewall.backend is "auto", nft is installed and iptables is the nf_tables variant (${version}): nftables`,
    };
  }
  return {
    backend: 'iptables',
    reason: `firewall.backend is "auto" and iptables is ${variant === 'legacy' ? 'the legacy variant' : 'of an unknown variant'} (${version}): iptables`,
  };
}
