/**
 * The facts chooseFirewallBackend needs, read from the host once at start:
 * whether `nft` runs and what `iptables --version` says.
 */
import { chooseFirewallBackend, type BackendChoice, type FirewallBackendSetting, type FirewallHostFacts } from './backend-choice.js';
import { runCommand } from './command.js';

const PROBE_TIMEOUT_MS = 5000;

async function versionOf(bin: string): Promise<string | undefined> {
  try {
    const r = await runCommand(bin, ['--version'], '', PROBE_TIMEOUT_MS);
    return r.code === 0 ? `${r.stdout}${r.stderr}`.trim() : undefined;
  } catch {
    return undefined;
  }
}

export async function probeFirewallHost(): Promise<FirewallHostFacts> {
  const [nft, iptables] = await Promise.all([versionOf('nft'), versionOf('iptables')]);
  return { nftPresent: nft !== undefined, iptablesVersion: iptables };
}

/** "none", "iptables" and "nftables" need no probe; "auto" asks the host. */
export async function resolveFirewallBackend(setting: FirewallBackendSetting): Promise<BackendChoice> {
  const facts = setting === 'auto' ? await probeFirewallHost() : { nftPresent: false, iptablesVersion: undefined };
  return chooseFirewallBackend(setting, facts);
}
