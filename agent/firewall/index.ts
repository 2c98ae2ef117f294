/**
 * The firewall module's surface for the rest of the agent: pick a backend from
 * configuration and get a Firewall. At start-up call reconcile() (installs the
 * chain and jump, or the table, and removes what a previous run left); on
 * shutdown call dispose(); the installer's --uninstall calls uninstall().
 */
import { FerryError } from '../../shared/errors.js';
import type { Firewall, FirewallBackendName } from './firewall.js';
import { IptablesRuleWriter, type IptablesWriterOptions } from './iptables/iptables-firewall.js';
import { leftoverBackends, type LeftoverRemover, RemovingLeftovers } from './leftovers.js';
import { NftablesRuleWriter, type NftablesWriterOptions } from './nftables/nftables-firewall.js';
import { NoneRuleWriter } from './none-firewall.js';
import { PinholeFirewall, type PinholeFirewallOptions } from './pinhole-firewall.js';
import type { RuleWriter } from './rule-writer.js';

export type {
  AdoptablePinhole,
  AddressFamily,
  Firewall,
  FirewallBackendName,
  Pinhole,
  PortRange,
  ReconcileReport,
} from './firewall.js';
export { DEFAULT_PORT_RANGE } from './firewall.js';
export { defaultLocalAddresses } from './addresses.js';
export { bindProbe, type PortProbe } from './port-allocator.js';
export type { FirewallLogger, PinholeFirewallOptions } from './pinhole-firewall.js';
export { PinholeFirewall } from './pinhole-firewall.js';
export { DEFAULT_CHAIN } from './iptables/iptables-firewall.js';
export { ExecIptablesRunner, FlushTables, type IptablesRunner } from './iptables/runner.js';
export { ExecNftRunner, type NftRunner } from './nftables/runner.js';
export { DEFAULT_PINHOLE_MARK } from './nftables/script.js';
export { chooseFirewallBackend, FIREWALL_BACKEND_SETTINGS, type BackendChoice, type FirewallBackendSetting } from './backend-choice.js';
export { resolveFirewallBackend } from './backend-probe.js';

export interface FirewallConfig
  extends PinholeFirewallOptions,
    Omit<IptablesWriterOptions, 'runner'>,
    Omit<NftablesWriterOptions, 'runner' | 'now'> {
  /** "iptables" (default here; ferryd resolves "auto" first), "nftables", or "none": the operator's firewall. */
  backend?: FirewallBackendName;
  /** The iptables backend's runner (tests: a fake). */
  runner?: IptablesWriterOptions['runner'];
  /** The nftables backend's runner (tests: a fake). */
  nftRunner?: NftablesWriterOptions['runner'];
  /** Remove the other backends' chain or table at every full sync (ferryd: yes; a unit test's fake: no). */
  removeLeftovers?: boolean;
}

export function createFirewall(config: FirewallConfig = {}): Firewall & { reservedPorts(): number[] } {
  const backend = config.backend ?? 'iptables';
  const writer = writerFor(backend, config);
  const wrapped = config.removeLeftovers
    ? new RemovingLeftovers(
        writer,
        leftoverBackends(backend).map((b) => leftoverRemover(b, config)),
        config.logger ?? { info: () => undefined, warn: () => undefined },
      )
    : writer;
  return new PinholeFirewall(wrapped, config);
}

function writerFor(backend: FirewallBackendName, config: FirewallConfig): RuleWriter {
  switch (backend) {
    case 'iptables': {
      const { runner, nftRunner: _, ...rest } = config;
      return new IptablesRuleWriter({ ...rest, ...(runner ? { runner } : {}) });
    }
    case 'nftables': {
      const { runner: _, nftRunner, ...rest } = config;
      return new NftablesRuleWriter({ ...rest, ...(nftRunner ? { runner: nftRunner } : {}) });
    }
    case 'none':
      return new NoneRuleWriter();
    default:
      throw new FerryError(
        'INVALID_ARGUMENT',
        `firewall: ${JSON.stringify(backend)} is not a firewall backend; use "nftables", "iptables" or "none"`,
        { field: 'firewall' },
      );
  }
}

/** The other backend's writer, used only to uninstall what it left, over both families. */
function leftoverRemover(backend: FirewallBackendName, config: FirewallConfig): LeftoverRemover {
  const range = config.portRange ? { portRange: config.portRange } : {};
  const other: RuleWriter =
    backend === 'iptables'
      ? new IptablesRuleWriter({ ...range, ...(config.chain ? { chain: config.chain } : {}) })
      : new NftablesRuleWriter({ ...range, ...(config.mark ? { mark: config.mark } : {}) });
  return { backend, remove: (family) => other.uninstall(family) };
}
