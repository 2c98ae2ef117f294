/**
 * The nftables backend on a lab host whose own firewall drops by default (a
 * table `inet hostfw` with policy drop, as a hand-written ruleset or Debian's
 * nftables.service would have): Ferry's accept cannot override that drop, so
 * - ferryd names the one rule to add, in GetCapabilities' warnings;
 * - without the rule the source cannot reach its pinhole;
 * - with it the source connects, and a third host is still reset by Ferry.
 * lab3 is the destination, lab2 the source, lab1 the third host. Fails, never
 * skips, when the lab cannot come up.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Pinhole } from '../../agent/firewall/firewall.js';
import { unary } from '../../shared/client.js';
import { agent, closeAgents, ferryd } from '../support/ferry.js';
import { Driver } from '../support/firewall-lab.js';
import { ensureLab, labExec, labHost } from '../support/lab.js';
import { assertRefusedFast } from '../support/pinhole-suite.js';

const RULE = 'nft insert rule inet hostfw input ct mark and 0x00800000 == 0x00800000 accept';
/** The host's own firewall: it lets in what the lab needs (ferryd's gRPC, libvirtd over TLS) and drops the rest. */
const HOSTFW = [
  'table inet hostfw {',
  '  chain input {',
  '    type filter hook input priority filter; policy drop;',
  '    ct state established,related accept',
  '    iif lo accept',
  '    tcp dport { 54321, 16514 } accept',
  '  }',
  '}',
].join('\n');

let labProblem: unknown;
const previous = process.env.FERRY_LAB_FIREWALL;
const drivers: Driver[] = [];

async function start(host: string, role: string): Promise<Driver> {
  const d = await Driver.start(host, role);
  drivers.push(d);
  return d;
}

async function warnings(): Promise<string[]> {
  return (await unary(agent('lab3').host, 'GetCapabilities', {})).warnings;
}

describe('nftables pinholes under a host firewall that drops (lab3)', { timeout: 300_000 }, () => {
  before(async () => {
    try {
      await ensureLab(3);
      process.env.FERRY_LAB_FIREWALL = 'nftables';
      await ferryd('restart', 'lab3');
      await labExec('lab3', ['nft', '-f', '-'], { input: `${HOSTFW}\n` });
    } catch (err) {
      labProblem = err;
    }
  });

  beforeEach(() => {
    if (labProblem) throw labProblem;
  });

  after(async () => {
    for (const d of drivers.splice(0)) await d.stop().catch(() => undefined);
    await labExec('lab3', ['nft', 'delete', 'table', 'inet', 'hostfw'], { allowFail: true });
    if (previous === undefined) delete process.env.FERRY_LAB_FIREWALL;
    else process.env.FERRY_LAB_FIREWALL = previous;
    await ferryd('restart', 'lab3');
    closeAgents();
  });

  it('ferryd runs nftables and names the host rule in GetCapabilities until it is there', async () => {
    const caps = await unary(agent('lab3').host, 'GetCapabilities', {});
    assert.equal(caps.firewallBackend, 'nftables');
    assert.match(caps.firewallBackendReason, /firewall\.backend is "nftables"/);
    assert.ok(
      caps.warnings.some((w) => w.includes('"inet hostfw input" (policy drop)') && w.includes(RULE)),
      JSON.stringify(caps.warnings),
    );
    await labExec('lab3', ['sh', '-ec', RULE]);
    try {
      assert.ok(!(await warnings()).some((w) => w.includes('hostfw')), 'the warning goes once the rule is there');
    } finally {
      await labExec('lab3', ['sh', '-c', 'nft delete table inet hostfw'], { allowFail: true });
      await labExec('lab3', ['nft', '-f', '-'], { input: `${HOSTFW}\n` });
    }
  });

  it('without the rule the source cannot connect; with it the source connects and a third host is reset', async () => {
    // The pinholes come from a driver running the same adapter as ferryd: stop ferryd, which owns the same table.
    await ferryd('stop', 'lab3');
    try {
      const dst = labHost(3).migIp;
      const fw = await start('lab3', 'agent');
      await fw.request('create', { config: { backend: 'nftables', portRange: { first: 49152, last: 49215 } } });
      await fw.request('reconcile');
      const hostWarnings = await fw.request<string[]>('hostWarnings');
      assert.ok(
        hostWarnings.some((w) => w.includes(RULE)),
        JSON.stringify(hostWarnings),
      );
      const qemu = await start('lab3', 'qemu');
      const source = await start('lab2', 'source');
      const third = await start('lab1', 'attacker');
      const hole = await fw.request<Pinhole>('open', {
        request: { vmId: 'vm-hostfw', jobId: 'job-hostfw', source: labHost(2).migIp, destination: dst, ttlMs: 60_000 },
      });
      const port = hole.ports[0]!;
      await qemu.request('listen', { host: dst, ports: [port] });

      const dropped = await source.request<{ outcome: string }>('connect', { host: dst, port, timeoutMs: 1500 });
      assert.equal(dropped.outcome, 'timeout', `the host's drop wins over Ferry's accept: ${JSON.stringify(dropped)}`);

      await labExec('lab3', ['sh', '-ec', RULE]);
      assert.deepEqual(await fw.request('hostWarnings'), []);
      const ok = await source.request<{ outcome: string; connId?: number }>('connect', { host: dst, port, timeoutMs: 3000 });
      assert.equal(ok.outcome, 'connected', JSON.stringify(ok));
      assert.equal(await source.request('echo', { connId: ok.connId, data: 'vm state' }), 'vm state');
      assertRefusedFast(await third.request('connect', { host: dst, port, timeoutMs: 3000 }), 'a third host, with the host rule in place');
      await fw.request('uninstall');
    } finally {
      for (const d of drivers.splice(0)) await d.stop().catch(() => undefined);
      await ferryd('start', 'lab3');
    }
  });
});
