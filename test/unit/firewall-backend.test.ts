/**
 * The shared Firewall logic and the iptables backend's decisions, against the
 * stateful fake. (What the kernel does with the rules is the lab's business:
 * test/e2e/firewall-*.test.ts.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFirewall, type FirewallConfig } from '../../agent/firewall/index.js';
import { isFerryError } from '../../shared/errors.js';
import { FakeIptables } from '../support/fake-iptables.js';
import { sleep } from '../support/wait.js';

const SRC = '198.19.0.2';
const DST = '198.19.0.3';
const CHAIN = 'FERRY-MIGRATION';

function setup(extra: FirewallConfig = {}) {
  const fake = new FakeIptables();
  let n = 0;
  const fw = createFirewall({
    runner: fake,
    localAddresses: () => [DST, '2001:db8::3'],
    probe: async () => 'free',
    newId: () => `ph-${++n}`,
    ...extra,
  });
  return { fake, fw };
}

const req = (over: Record<string, unknown> = {}) => ({
  vmId: 'vm-1',
  jobId: 'job-1',
  source: SRC,
  destination: DST,
  ttlMs: 60_000,
  ...over,
});
const pinholeLines = (fake: FakeIptables, family: 'ipv4' | 'ipv6' = 'ipv4') =>
  fake.rules(family, CHAIN).filter((l) => l.includes('ferry pinhole='));

describe('firewall backend (iptables, fake)', () => {
  it('reconcile installs chain and jump for both families, once', async () => {
    const { fake, fw } = setup();
    const first = await fw.reconcile();
    assert.deepEqual(first, { backend: 'iptables', removedStale: 0, removedExpired: 0, restored: 0, jumpInstalled: true, changed: true });
    for (const family of ['ipv4', 'ipv6'] as const) {
      assert.deepEqual(fake.rules(family, 'INPUT'), ['-A INPUT -p tcp -m tcp --dport 49152:49215 -j FERRY-MIGRATION']);
      assert.deepEqual(fake.rules(family, CHAIN), [
        '-A FERRY-MIGRATION -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
        '-A FERRY-MIGRATION -p tcp -j REJECT --reject-with tcp-reset',
      ]);
    }
    const writes = fake.restoreCalls().length;
    const again = await fw.reconcile();
    assert.equal(again.changed, false);
    assert.equal(fake.restoreCalls().length, writes, 'a matching firewall is not rewritten');
    assert.equal(fake.rules('ipv4', 'INPUT').length, 1, 'the jump is never duplicated');
  });

  it('open is one restore call inserting one rule; close is one call deleting it and frees the port', async () => {
    const { fake, fw } = setup();
    await fw.reconcile();
    const before = fake.restoreCalls().length;
    const hole = await fw.open(req({ disksPort: true }));
    assert.equal(fake.restoreCalls().length, before + 1);
    assert.equal(fake.restoreCalls().at(-1)!.flush, 'noflush');
    assert.deepEqual(hole.ports, [49152, 49153]);
    assert.equal(hole.expiresAt % 1000, 0);
    assert.deepEqual(fw.list(), [hole]);
    const rules = fake.rules('ipv4', CHAIN);
    assert.equal(rules.length, 3);
    assert.match(
      rules[1]!,
      /-s 198\.19\.0\.2\/32 -d 198\.19\.0\.3\/32 -p tcp -m multiport --dports 49152,49153 -m conntrack --ctstate NEW -m time --datestop \S+ -m comment --comment "ferry pinhole=ph-1 vm=vm-1 job=job-1" -j ACCEPT/,
    );
    assert.equal(await fw.close(hole.id), true);
    assert.equal(fake.restoreCalls().length, before + 2);
    assert.deepEqual(pinholeLines(fake), []);
    assert.deepEqual(fw.list(), []);
    assert.deepEqual(fw.reservedPorts(), []);
    assert.equal(await fw.close(hole.id), false, 'closing twice is harmless');
  });

  it('an IPv6 hole goes to ip6tables only', async () => {
    const { fake, fw } = setup();
    const hole = await fw.open(req({ source: '2001:DB8::2', destination: '2001:db8::3' }));
    assert.equal(hole.family, 'ipv6');
    assert.equal(hole.source, '2001:db8::2');
    assert.equal(pinholeLines(fake, 'ipv6').length, 1);
    assert.equal(pinholeLines(fake, 'ipv4').length, 0);
  });

  it('the first open installs the chain itself when reconcile was never called', async () => {
    const { fake, fw } = setup();
    await fw.open(req());
    assert.equal(fake.rules('ipv4', 'INPUT').length, 1);
    assert.equal(fake.rules('ipv4', CHAIN).length, 3);
  });

  it('invalid requests are INVALID_ARGUMENT and write nothing', async () => {
    const { fake, fw } = setup();
    await fw.reconcile();
    const writes = fake.calls.length;
    const bad: [Record<string, unknown>, string][] = [
      [{ source: '2001:db8::2' }, 'destination'],
      [{ destination: '198.19.0.99' }, 'destination'],
      [{ source: '224.0.0.1' }, 'source'],
      [{ source: '198.19.0.2/32' }, 'source'],
      [{ vmId: 'vm 1' }, 'vmId'],
      [{ jobId: 'x"; -j ACCEPT' }, 'jobId'],
      [{ jobId: '' }, 'jobId'],
      [{ ttlMs: 0 }, 'ttlMs'],
      [{ ttlMs: 600_001 }, 'ttlMs'],
      [{ ttlMs: 1.5 }, 'ttlMs'],
      [{ disksPort: 'yes' }, 'disksPort'],
    ];
    for (const [over, field] of bad) {
      await assert.rejects(
        fw.open(req(over) as never),
        (e: unknown) => isFerryError(e, 'INVALID_ARGUMENT') && e.details.field === field,
        JSON.stringify(over),
      );
    }
    assert.equal(fake.calls.length, writes, 'no save or restore for an invalid request');
    assert.deepEqual(fw.reservedPorts(), []);
  });

  it('a family the backend does not manage is FAILED_PRECONDITION', async () => {
    const { fw } = setup({ families: ['ipv4'] });
    await assert.rejects(
      fw.open(req({ source: '2001:db8::2', destination: '2001:db8::3' })),
      (e: unknown) => isFerryError(e, 'FAILED_PRECONDITION') && /enable ipv6/.test(e.message),
    );
  });

  it('the whole range taken is RESOURCE_EXHAUSTED; closing one makes room', async () => {
    const { fw } = setup({ portRange: { first: 49152, last: 49154 } });
    const holes = [await fw.open(req()), await fw.open(req()), await fw.open(req())];
    await assert.rejects(fw.open(req()), (e: unknown) => isFerryError(e, 'RESOURCE_EXHAUSTED'));
    await fw.close(holes[1]!.id);
    assert.deepEqual((await fw.open(req())).ports, holes[1]!.ports);
  });

  it('64 concurrent opens then 64 concurrent closes: distinct ports, every rule written, none left', async () => {
    const { fake, fw } = setup();
    await fw.reconcile();
    const holes = await Promise.all(Array.from({ length: 64 }, (_, i) => fw.open(req({ jobId: `job-${i}` }))));
    assert.equal(new Set(holes.map((h) => h.ports[0])).size, 64);
    assert.equal(pinholeLines(fake).length, 64);
    await assert.rejects(fw.open(req()), (e: unknown) => isFerryError(e, 'RESOURCE_EXHAUSTED'));
    // Interleave: close all while opening nothing else, in random order.
    const shuffled = [...holes].sort(() => Math.random() - 0.5);
    assert.deepEqual(
      await Promise.all(shuffled.map((h) => fw.close(h.id))),
      shuffled.map(() => true),
    );
    assert.deepEqual(pinholeLines(fake), []);
    assert.equal(fake.rules('ipv4', CHAIN).length, 2);
    assert.deepEqual(fw.reservedPorts(), []);
  });

  it('reconcile at start-up removes stale and expired rules of a previous process, not foreign rules', async () => {
    const { fake, fw: previous } = setup({ newId: () => `ph-old-${Math.random().toString(16).slice(2, 8)}` });
    await fake.restore(
      'ipv4',
      '*filter\n:FOREIGN - [0:0]\n-A INPUT -p udp -m udp --dport 53 -j FOREIGN\n-A FOREIGN -j ACCEPT\nCOMMIT\n',
      'noflush',
    );
    await previous.reconcile();
    await previous.open(req());
    await previous.open(req({ ttlMs: 1 }));
    previous.dispose(); // "killed": its rules stay behind
    await sleep(1100); // let the 1 ms hole's datestop pass
    assert.equal(pinholeLines(fake).length, 2);

    const fw = createFirewall({ runner: fake, localAddresses: () => [DST], probe: async () => 'free' });
    const report = await fw.reconcile();
    assert.deepEqual(report, { backend: 'iptables', removedStale: 1, removedExpired: 1, restored: 0, jumpInstalled: false, changed: true });
    assert.deepEqual(pinholeLines(fake), []);
    assert.deepEqual(fake.rules('ipv4', 'INPUT'), [
      '-A INPUT -p tcp -m tcp --dport 49152:49215 -j FERRY-MIGRATION',
      '-A INPUT -p udp -m udp --dport 53 -j FOREIGN',
    ]);
    assert.deepEqual(fake.rules('ipv4', 'FOREIGN'), ['-A FOREIGN -j ACCEPT']);
  });

  it('reconcile restores a live hole whose rule someone deleted, and replaces a duplicated jump', async () => {
    const { fake, fw } = setup();
    const hole = await fw.open(req());
    await fake.restore('ipv4', `*filter\n:${CHAIN} - [0:0]\n-A INPUT -p tcp -m tcp --dport 49152:49215 -j ${CHAIN}\nCOMMIT\n`, 'noflush');
    const report = await fw.reconcile();
    assert.equal(report.restored, 1);
    assert.equal(report.jumpInstalled, true);
    assert.equal(fake.rules('ipv4', 'INPUT').length, 1);
    assert.equal(pinholeLines(fake).length, 1);
    assert.match(pinholeLines(fake)[0]!, new RegExp(hole.id));
  });

  it('a failed incremental change falls back to a full rewrite', async () => {
    const { fake, fw } = setup();
    await fw.reconcile();
    // Someone flushed our chain: "-I CHAIN 2" is out of range and fails.
    await fake.restore('ipv4', `*filter\n-F ${CHAIN}\nCOMMIT\n`, 'noflush');
    const hole = await fw.open(req());
    assert.equal(fake.restoreCalls().filter((c) => !c.ok).length, 1);
    assert.equal(fake.rules('ipv4', CHAIN).length, 3, 'established + hole + reject, rewritten whole');
    // The rule vanished before close: "-D" fails; the rewrite without it succeeds.
    await fake.restore('ipv4', `*filter\n-D ${CHAIN} 2\nCOMMIT\n`, 'noflush');
    assert.equal(await fw.close(hole.id), true);
    assert.equal(fake.rules('ipv4', CHAIN).length, 2);
  });

  it('when iptables-restore keeps failing, the error carries its stderr and nothing is recorded', async () => {
    const { fake, fw } = setup();
    await fw.reconcile();
    fake.failNextRestore("iptables-restore: line 2 failed: Couldn't load match `time'");
    fake.failNextRestore("iptables-restore: line 4 failed: Couldn't load match `time'");
    await assert.rejects(fw.open(req()), (e: unknown) => {
      assert.ok(isFerryError(e, 'INTERNAL'));
      assert.match(e.message, /line 2 failed: Couldn't load match `time'.*full rewrite that followed failed too.*line 4 failed/);
      return true;
    });
    assert.deepEqual(fw.list(), []);
    assert.deepEqual(fw.reservedPorts(), []);
    // The next change starts with a full sync, then works.
    const hole = await fw.open(req());
    assert.equal(pinholeLines(fake).length, 1);
    assert.deepEqual(fw.list(), [hole]);
  });

  it('a host whose IPv6 firewall cannot be installed is told how to opt out of IPv6', async () => {
    const { fake, fw } = setup();
    fake.failNextRestore("ip6tables-restore: line 2 failed: can't initialize ip6tables table `filter'", (_p, family) => family === 'ipv6');
    await assert.rejects(
      fw.reconcile(),
      (e: unknown) => isFerryError(e, 'INTERNAL') && /can't initialize ip6tables.*set the firewall families to \["ipv4"\]/.test(e.message),
    );
  });

  it('a close that fails before expiry keeps the hole and its port; the error says why', async () => {
    const { fake, fw } = setup();
    const hole = await fw.open(req());
    fake.failNextRestore('line 2 failed: boom');
    fake.failNextRestore('line 3 failed: boom again');
    await assert.rejects(fw.close(hole.id), /boom.*boom again/);
    assert.deepEqual(fw.list(), [hole]);
    assert.deepEqual(fw.reservedPorts(), hole.ports);
    assert.equal(await fw.close(hole.id), true);
  });

  it('the agent timer removes the rule at expiry', async () => {
    const { fake, fw } = setup();
    const hole = await fw.open(req({ ttlMs: 200 }));
    assert.equal(pinholeLines(fake).length, 1);
    await sleep(hole.expiresAt - Date.now() + 150);
    assert.deepEqual(pinholeLines(fake), []);
    assert.deepEqual(fw.list(), []);
    assert.deepEqual(fw.reservedPorts(), []);
  });

  it('uninstall removes the jump and the chain in both families and forgets every hole', async () => {
    const { fake, fw } = setup();
    await fw.open(req());
    await fw.uninstall();
    for (const family of ['ipv4', 'ipv6'] as const) {
      assert.equal(fake.hasChain(family, CHAIN), false);
      assert.deepEqual(fake.rules(family, 'INPUT'), []);
    }
    assert.deepEqual(fw.list(), []);
    assert.deepEqual(fw.reservedPorts(), []);
    await fw.uninstall(); // idempotent
  });

  it('a restarted agent adopts the holes of running jobs: reconcile keeps their rules, drops the rest, and close() works on them', async () => {
    const { fake, fw: first } = setup();
    await first.reconcile();
    const kept = await first.open(req({ jobId: 'job-kept' }));
    const stale = await first.open(req({ jobId: 'job-gone', vmId: 'vm-2' }));
    first.dispose(); // the agent dies; its rules stay
    const keptRule = pinholeLines(fake).filter((l) => l.includes('job=job-kept'));
    assert.equal(keptRule.length, 1);

    let n = 100;
    const second = createFirewall({ runner: fake, localAddresses: () => [DST], probe: async () => 'free', newId: () => `ph-${++n}` });
    second.adopt([kept, { ...stale, id: 'ph-late', expiresAt: Date.now() - 1000 }]);
    const report = await second.reconcile();
    assert.equal(report.removedStale, 1, 'the hole that was not adopted (an expired one is not) is removed');
    assert.deepEqual(pinholeLines(fake), keptRule, 'the adopted rule is untouched');
    assert.deepEqual(
      second.list().map((h) => h.id),
      [kept.id],
    );
    const fresh = await second.open(req({ jobId: 'job-new' }));
    assert.notDeepEqual(fresh.ports, kept.ports, 'the adopted hole keeps its port reserved');
    assert.equal(await second.close(kept.id), true);
    assert.deepEqual(
      pinholeLines(fake).filter((l) => l.includes('job=job-kept')),
      [],
    );
  });

  it('rejects a bad chain name or family list at construction', () => {
    assert.throws(
      () => setup({ chain: 'INPUT' }),
      (e: unknown) => isFerryError(e, 'INVALID_ARGUMENT') && e.details.field === 'chain',
    );
    assert.throws(
      () => setup({ chain: 'A'.repeat(29) }),
      (e: unknown) => isFerryError(e, 'INVALID_ARGUMENT'),
    );
    assert.throws(
      () => setup({ families: [] }),
      (e: unknown) => isFerryError(e, 'INVALID_ARGUMENT') && e.details.field === 'families',
    );
    assert.throws(
      () => createFirewall({ backend: 'nft' as never }),
      (e: unknown) => isFerryError(e, 'INVALID_ARGUMENT') && /"iptables" or "none"/.test(e.message),
    );
  });
});

describe('firewall backend "none"', () => {
  it('allocates, records, lists and expires holes, and writes nothing', async () => {
    const { fake, fw } = setup({ backend: 'none' });
    assert.equal(fw.backend, 'none');
    assert.deepEqual(await fw.reconcile(), {
      backend: 'none',
      removedStale: 0,
      removedExpired: 0,
      restored: 0,
      jumpInstalled: false,
      changed: false,
    });
    const a = await fw.open(req({ disksPort: true }));
    const b = await fw.open(req({ source: '2001:db8::2', destination: '2001:db8::3', ttlMs: 100 }));
    assert.deepEqual([a.ports, b.ports], [[49152, 49153], [49154]]);
    assert.deepEqual(
      fw.list().map((h) => h.id),
      [b.id, a.id],
    );
    await assert.rejects(fw.open(req({ destination: '198.19.0.77' })), (e: unknown) => isFerryError(e, 'INVALID_ARGUMENT'));
    await sleep(b.expiresAt - Date.now() + 100);
    assert.deepEqual(fw.list(), [a]);
    assert.equal(await fw.close(a.id), true);
    await fw.uninstall();
    assert.equal(fake.calls.length, 0, 'the "none" backend never runs iptables');
  });
});
