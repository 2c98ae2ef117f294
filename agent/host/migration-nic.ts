/**
 * Which NIC carries the migration network and which the management address,
 * from the configuration and the NIC list. Pure: the warnings it returns say
 * what an operator should fix.
 */
import { cidrContains, networkOf } from '../../shared/cidr.js';
import type { MigrationNetworkSpec } from '../config/agent-config.js';
import type { LinkState } from '../migration/index.js';
import { isUp, type NicInfo } from './system-probe.js';

export interface MigrationNicResult {
  /** The configured network in CIDR form (for an interface: its first address's block). */
  cidr: string;
  nic?: NicInfo;
  /** This host's address on the migration network (no prefix). */
  address: string;
  up: boolean;
  /** The NIC and what it is stacked on ("bond0.100 (vlan) on bond0 (bond: eth0 up, eth1 down)"); '' when not known. */
  link: string;
  /** Why it cannot carry migrations; '' when up. */
  downReason: string;
  warnings: string[];
}

/** Link states by NIC name (agent/network's judgement of stacked links); a NIC not in it is judged by its operstate alone. */
export type LinkStates = ReadonlyMap<string, LinkState>;

/** "198.19.0.2/24" → "198.19.0.2". */
function bare(withPrefix: string): string {
  const slash = withPrefix.indexOf('/');
  return slash < 0 ? withPrefix : withPrefix.slice(0, slash);
}
const isLinkLocal = (address: string) => /^fe80:/i.test(address) || address.startsWith('169.254.');

export function findMigrationNic(
  spec: MigrationNetworkSpec | null,
  nics: readonly NicInfo[],
  links: LinkStates = new Map(),
): MigrationNicResult {
  const upOf = (nic: NicInfo) => links.get(nic.name)?.up ?? isUp(nic.state);
  const linkOf = (nic: NicInfo) => ({
    link: links.get(nic.name)?.description ?? '',
    downReason: upOf(nic) ? '' : (links.get(nic.name)?.downReason ?? `operstate ${nic.state}`),
  });
  const downWarning = (nic: NicInfo) => {
    const link = links.get(nic.name);
    return link
      ? `migration NIC ${nic.name} is down (${link.downReason}): it is ${link.description}`
      : `migration NIC ${nic.name} is ${nic.state}`;
  };
  if (spec === null) {
    return {
      cidr: '',
      address: '',
      up: false,
      link: '',
      downReason: '',
      warnings: ['no migration network is configured (migration.network): migrations use the management network'],
    };
  }
  if (spec.kind === 'interface') {
    const nic = nics.find((n) => n.name === spec.name);
    if (!nic)
      return {
        cidr: '',
        address: '',
        up: false,
        link: '',
        downReason: 'it does not exist',
        warnings: [`migration NIC ${spec.name} (migration.network) does not exist on this host`],
      };
    // IPv4 first, then global IPv6: link-local addresses cannot be dialled without a zone.
    const preferred = [...nic.addresses].sort((a, b) => rank(a) - rank(b)).find((a) => !isLinkLocal(bare(a)));
    const result: MigrationNicResult = {
      cidr: preferred ? (networkOf(preferred)?.text ?? '') : '',
      nic,
      address: preferred ? bare(preferred) : '',
      up: upOf(nic),
      ...linkOf(nic),
      warnings: [],
    };
    if (!result.up) result.warnings.push(downWarning(nic));
    else if (!preferred) result.warnings.push(`migration NIC ${nic.name} has no usable address`);
    return result;
  }

  const inside = nics.flatMap((nic) =>
    nic.addresses.filter((a) => cidrContains(spec.cidr, bare(a))).map((a) => ({ nic, address: bare(a) })),
  );
  const warnings: string[] = [];
  const first = inside[0];
  if (first === undefined) {
    const down = nics.filter((n) => !upOf(n)).map((n) => n.name);
    warnings.push(
      `no NIC has an address in ${spec.cidr.text} (migration.network)${down.length ? `; NICs that are down: ${down.join(', ')}` : ''}`,
    );
    return {
      cidr: spec.cidr.text,
      address: '',
      up: false,
      link: '',
      downReason: `no interface has an address in ${spec.cidr.text}`,
      warnings,
    };
  }
  const names = [...new Set(inside.map((i) => i.nic.name))];
  const chosen = inside.find((i) => upOf(i.nic)) ?? first;
  if (names.length > 1) warnings.push(`several NICs have addresses in ${spec.cidr.text}: ${names.join(', ')}; using ${chosen.nic.name}`);
  const up = upOf(chosen.nic);
  if (!up) warnings.push(downWarning(chosen.nic));
  return { cidr: spec.cidr.text, nic: chosen.nic, address: chosen.address, up, ...linkOf(chosen.nic), warnings };
}

function rank(address: string): number {
  return address.includes(':') ? 1 : 0;
}

/** The NIC the agent's own listen address is on (the default-route NIC for a wildcard). */
export function findManagementNic(listenAddress: string, nics: readonly NicInfo[]): NicInfo | undefined {
  if (listenAddress === '0.0.0.0' || listenAddress === '::') return nics.find((n) => n.isDefault);
  return nics.find((n) => n.addresses.some((a) => bare(a) === listenAddress));
}
