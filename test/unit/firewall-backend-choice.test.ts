/**
 * Which backend ferryd runs (firewall.backend and what the host has), what a
 * switch removes, and the nftables writer's calls through a recording runner.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseFirewallBackend, iptablesVariant } from '../../agent/firewall/backend-choice.js';
import type { AddressFamily, Pinhole } from '../../agent/firewall/firewall.js';
import { createFirewall } from '../../agent/firewall/index.js';
import { leftoverBackends, RemovingLeftovers } from '../../agent/firewall/leftovers.js';
import type { NftRunner } from '../../agent/firewall/nftables/runner.js';
import { NoneRuleWriter } from '../../agent/firewall/none-firewall.js';
import { FerryError } from '../../shared/errors.js';

const NFT_IPTABLES = 'iptables v1.8.9 (nf_tables)';
const LEGACY_IPTABLES = 'iptables v1.8.9 (legacy)';

describe('firewall backend choice', () => {
  it('auto: nftables where nft runs and iptables is the nf_tables variant or absent', () => {
    assert.equal(chooseFirewallBackend('auto', { nftPresent: true, iptablesVersion: NFT_IPTABLES }).backend, 'nftables');
    assert.equal(chooseFirewallBackend('auto', { nftPresent: true, iptablesVersion: undefined }).backend, 'nftables');
    const reason = chooseFirewallBackend('auto', { nftPresent: true, iptablesVersion: `${NFT_IPTABLES}\n` }).reason;
    assert.equal(
      reason,
      'firewall.backend is "auto", nft is installed and iptables is the nf_tables variant (iptables v1.8.9 (nf_tables)): nftables',
    );
  });

  it('auto: iptables where nft is missing, or iptables is legacy (x_tables rules would still apply)', () => {
    const noNft = chooseFirewallBackend('auto', { nftPresent: false, iptablesVersion: NFT_IPTABLES });
    assert.deepEqual(noNft, {
      backend: 'iptables',
      reason: 'firewall.backend is "auto" and nft is not installed (iptables v1.8.9 (nf_tables)): iptables',
    });
    const legacy = chooseFirewallBackend('auto', { nftPresent: true, iptablesVersion: LEGACY_IPTABLES });
    assert.deepEqual(legacy, {
      backend: 'iptables',
      reason: 'firewall.backend is "auto" and iptables is the legacy variant (iptables v1.8.9 (legacy)): iptables',
    });
    assert.equal(chooseFirewallBackend('auto', { nftPresent: true, iptablesVersion: 'iptables v1.6.1' }).backend, 'iptables');
  });

  it('an explicit setting is taken as it is, whatever the host has', () => {
    for (const b of ['nftables', 'iptables', 'none'] as const) {
      const c = chooseFirewallBackend(b, { nftPresent: false, iptablesVersion: undefined });
      assert.equal(c.backend, b);
      assert.match(c.reason, new RegExp(`firewall.backend is "${b}"`));
    }
  });

  it('iptables variants from --version', () => {
    assert.equal(iptablesVariant(NFT_IPTABLES), 'nf_tables');
    assert.equal(iptablesVariant(LEGACY_IPTABLES), 'legacy');
    assert.equal(iptablesVariant('iptables v1.6.2'), 'legacy');
    assert.equal(iptablesVariant('something else'), 'unknown');
  });
});

describe('leftovers of the other backend', () => {
  it('each rule-writing backend removes the other; none removes both', () => {
    assert.deepEqual(leftoverBackends('nftables'), ['iptables']);
    assert.deepEqual(leftoverBackends('iptables'), ['nftables']);
    assert.deepEqual(leftoverBackends('none'), ['iptables', 'nftables']);
  });

  it('removed before every full sync, per family; a tool that is not installed left nothing', async () => {
    const calls: string[] = [];
    const warnings: string[] = [];
    const writer = new RemovingLeftovers(
      new NoneRuleWriter(),
      [
        {
          backend: 'iptables',
          remove: async (f: AddressFamily) => {
            calls.push(`iptables ${f}`);
            throw new FerryError('FAILED_PRECONDITION', 'iptables-save not found');
          },
        },
        {
          backend: 'nftables',
          remove: async (f: AddressFamily) => {
            calls.push(`nftables ${f}`);
            if (f === 'ipv6') throw new FerryError('INTERNAL', 'nft -f - failed');
          },
        },
      ],
      { info: () => undefined, warn: (m) => warnings.push(m) },
    );
    await writer.sync('ipv4', [], 0);
    await writer.sync('ipv6', [], 0);
    assert.deepEqual(calls, ['iptables ipv4', 'nftables ipv4', 'iptables ipv6', 'nftables ipv6']);
    assert.deepEqual(warnings, ['could not remove what the nftables backend left'], 'a real failure is logged, a missing tool is not');
  });
});

/** Answers listTable with a fixed document and records every script. */
class RecordingNft implements NftRunner {
  scripts: string[] = [];
  table: string | undefined;
  async apply(script: string): Promise<void> {
    if (script !== '') this.scripts.push(script);
  }
  async listTable(): Promise<string | undefined> {
    return this.table;
  }
  async listRuleset(): Promise<string> {
    return '{"nftables": [{"metainfo": {"version": "1.0.6"}}]}';
  }
}

describe('the nftables writer under the shared firewall', () => {
  const setup = () => {
    const nft = new RecordingNft();
    let n = 0;
    let now = 1_800_000_000_000;
    const fw = createFirewall({
      backend: 'nftables',
      nftRunner: nft,
      localAddresses: () => ['198.19.0.3'],
      probe: async () => 'free',
      newId: () => `ph-${++n}`,
      now: () => now,
    });
    return { nft, fw, tick: (ms: number) => (now += ms) };
  };

  it('reconcile creates the table once; open and close are one script each, of elements only', async () => {
    const { nft, fw } = setup();
    const report = await fw.reconcile();
    assert.deepEqual(report, { backend: 'nftables', removedStale: 0, removedExpired: 0, restored: 0, jumpInstalled: true, changed: true });
    assert.equal(nft.scripts.length, 2, 'no table seen: each family recreates it (the fake does not remember)');
    nft.scripts = [];
    const hole: Pinhole = await fw.open({ vmId: 'vm-1', jobId: 'job-1', source: '198.19.0.2', destination: '198.19.0.3', ttlMs: 10_000 });
    assert.equal(nft.scripts.length, 1);
    assert.match(
      nft.scripts[0]!,
      /add element inet ferry pinholes4 \{ 198\.19\.0\.2 \. 198\.19\.0\.3 \. 49152 timeout 10000ms comment "ferry pinhole=ph-1 vm=vm-1 job=job-1" \}/,
    );
    assert.equal(await fw.close(hole.id), true);
    assert.equal(nft.scripts.length, 2);
    assert.doesNotMatch(nft.scripts[1]!, /timeout|table|rule/);
    assert.deepEqual(await fw.hostWarnings(), []);
    fw.dispose();
  });

  it('opens that arrive together are written together: one transaction for many holes, each hole once', async () => {
    const { nft, fw } = setup();
    await fw.reconcile();
    nft.scripts = [];
    const holes = await Promise.all(
      Array.from({ length: 16 }, (_, i) => fw.open({ vmId: 'vm-1', jobId: `job-${i}`, source: '198.19.0.2', destination: '198.19.0.3' })),
    );
    const written = nft.scripts.join('\n');
    for (const h of holes) {
      assert.equal(
        written.split(`comment "ferry pinhole=${h.id} vm=vm-1 job=job-${h.jobId.slice(4)}"`).length - 1,
        1,
        `${h.id} written once`,
      );
    }
    assert.ok(nft.scripts.length < holes.length, `16 opens took ${nft.scripts.length} transactions`);
    assert.equal(new Set(holes.flatMap((h) => h.ports)).size, 16);
    fw.dispose();
  });
});
