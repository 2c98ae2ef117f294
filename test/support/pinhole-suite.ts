/**
 * The pinhole test suite, for either backend and either place: the lab (lab3
 * destination, lab2 source, lab1 attacker: test/e2e/firewall-pinhole.test.ts)
 * or one private network namespace where the source and the attacker are
 * local addresses (test/integration/firewall-netns.test.ts). The firewall
 * runs in test/support/firewall-driver.ts processes, which a test can SIGKILL.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Pinhole, ReconcileReport } from '../../agent/firewall/firewall.js';
import { type ConnectResult, type Driver, DriverError } from './firewall-lab.js';
import type { Backend, Exec, FirewallView } from './firewall-inspect.js';
import { sleep } from './wait.js';

export const RANGE = { first: 49152, last: 49215 };
/** A refused connection must fail at once (RST), never wait for a SYN timeout. */
export const FAST_MS = 1000;

export type Role = 'agent' | 'qemu' | 'source' | 'attacker' | 'cleanup';

export interface PinholeEnv {
  backend: Backend;
  /** A new driver process for the role, in the destination (agent, qemu) or its own place. */
  start(role: Role): Promise<Driver>;
  /** A connection attempt from a source or attacker driver to the destination. */
  connect(from: Driver, port: number, timeoutMs?: number): Promise<ConnectResult>;
  /** Run a command on the destination. */
  exec: Exec;
  view: FirewallView;
  dst: string;
  src: string;
  /** Commands that add and remove rules other software owns on the destination. */
  foreignRules: { add: string[]; remove: string[] };
}

export function firewallConfig(backend: Backend) {
  return { backend, portRange: RANGE, removeLeftovers: true };
}

export async function agentOn(env: PinholeEnv, backend: Backend = env.backend): Promise<Driver> {
  const agent = await env.start('agent');
  await agent.request('create', { config: firewallConfig(backend) });
  return agent;
}

/** Remove whatever either backend left on the destination. */
export async function uninstallAll(env: PinholeEnv): Promise<void> {
  for (const backend of ['iptables', 'nftables'] as const) {
    const d = await env.start('cleanup');
    try {
      await d.request('create', { config: { backend, portRange: RANGE } });
      await d.request('uninstall');
    } finally {
      await d.stop();
    }
  }
}

function openReq(env: PinholeEnv, over: Record<string, unknown> = {}) {
  return { request: { vmId: 'vm-e2e', jobId: 'job-e2e', source: env.src, destination: env.dst, ttlMs: 30_000, ...over } };
}

export function assertRefusedFast(r: ConnectResult, what: string): void {
  assert.equal(r.outcome, 'refused', `${what}: expected a TCP reset, got ${JSON.stringify(r)}`);
  assert.ok(r.elapsedMs < FAST_MS, `${what}: refused only after ${r.elapsedMs} ms`);
}

async function runSh(env: PinholeEnv, lines: string[], allowFail = false): Promise<void> {
  const r = await env.exec(['sh', allowFail ? '-c' : '-ec', lines.join('\n')]);
  if (!allowFail) assert.equal(r.code, 0, r.stderr);
}

/** Defines the suite's tests (call inside a describe whose hooks clean the destination between tests). */
export function pinholeTests(envOf: () => PinholeEnv): void {
  it('an open pinhole lets the source in, and only the source, and only on its port', async () => {
    const env = envOf();
    const agent = await agentOn(env);
    await agent.request('reconcile');
    assert.equal(await env.view.skeletonProblem(), '');
    const qemu = await env.start('qemu');
    const source = await env.start('source');
    const attacker = await env.start('attacker');

    // Something already listens on the first port of the range: the allocator must skip it,
    // and (no hole for it) the firewall must keep it closed.
    const busy = RANGE.first;
    await qemu.request('listen', { host: env.dst, ports: [busy] });
    assertRefusedFast(await env.connect(source, busy), 'the range is closed by default');

    const hole = await agent.request<Pinhole>('open', openReq(env));
    assert.notEqual(hole.ports[0], busy, 'a port with a listening socket is never handed out');
    const port = hole.ports[0]!;
    await qemu.request('listen', { host: env.dst, ports: [port] });

    const ok = await env.connect(source, port);
    assert.equal(ok.outcome, 'connected', JSON.stringify(ok));
    assert.equal(await source.request('echo', { connId: ok.connId, data: 'vm state' }), 'vm state');

    assertRefusedFast(await env.connect(attacker, port), 'a third host on the migration network');
    assertRefusedFast(await env.connect(source, busy), 'the source on another port of the range');

    // Closed as soon as asked: new connections are refused, the established one lives on.
    assert.equal(await agent.request('close', { pinholeId: hole.id }), true);
    assertRefusedFast(await env.connect(source, port), 'the source after close');
    assert.equal(await source.request('echo', { connId: ok.connId, data: 'more state' }), 'more state');

    // Control: without Ferry's rules the attacker does get in, so the resets above were ours.
    await agent.request('uninstall');
    assert.equal((await env.connect(attacker, port)).outcome, 'connected');
  });

  it('the kernel closes an expired hole within a second of its TTL although the agent was SIGKILLed; established connections survive', async () => {
    const env = envOf();
    const agent = await agentOn(env);
    await agent.request('reconcile');
    const qemu = await env.start('qemu');
    const source = await env.start('source');
    const attacker = await env.start('attacker');

    const hole = await agent.request<Pinhole>('open', openReq(env, { ttlMs: 3000, jobId: 'job-expiry' }));
    const port = hole.ports[0]!;
    await qemu.request('listen', { host: env.dst, ports: [port] });
    const established = await env.connect(source, port);
    assert.equal(established.outcome, 'connected', JSON.stringify(established));
    assert.equal(await source.request('echo', { connId: established.connId, data: 'before' }), 'before');

    await agent.kill('SIGKILL');
    assert.ok(Date.now() < hole.expiresAt - 1000, 'the agent died well before the expiry, so its own timer never ran');

    // Within ±1 s of the TTL: still open just before, closed just after.
    await sleep(hole.expiresAt - Date.now() - 800);
    const late = await env.connect(source, port);
    assert.equal(late.outcome, 'connected', `0.8 s before expiry the hole is still open: ${JSON.stringify(late)}`);
    await sleep(hole.expiresAt - Date.now() + 800);
    assert.ok(
      (await env.view.pinholeIds()).includes(hole.id) || env.backend === 'nftables',
      'iptables: the rule is still there, so only the kernel can have closed the hole',
    );
    assertRefusedFast(await env.connect(source, port), 'a new connection from the source 0.8 s after expiry');
    assertRefusedFast(await env.connect(attacker, port), 'the attacker after expiry');
    assert.equal(await source.request('echo', { connId: established.connId, data: 'after expiry' }), 'after expiry');
  });

  it("a live agent's own timer removes the hole at expiry and frees the port", async () => {
    const env = envOf();
    const agent = await agentOn(env);
    await agent.request('reconcile');
    const hole = await agent.request<Pinhole>('open', openReq(env, { ttlMs: 1000, jobId: 'job-timer' }));
    assert.ok((await env.view.pinholeIds()).includes(hole.id));
    await sleep(hole.expiresAt - Date.now() + 500);
    assert.ok(!(await env.view.pinholeIds()).includes(hole.id), 'the hole is gone from the kernel');
    assert.deepEqual(await agent.request('list'), []);
    assert.deepEqual(await agent.request('reserved'), []);
  });

  it("a restarted agent keeps adopted holes, removes stale and expired ones, and leaves other software's rules byte-identical", async () => {
    const env = envOf();
    await runSh(env, env.foreignRules.add);
    try {
      const before = await env.view.foreign();
      assert.deepEqual(await env.view.pinholeIds(), [], 'no Ferry holes before the test');

      const first = await agentOn(env);
      await first.request('reconcile');
      const long = [
        await first.request<Pinhole>('open', openReq(env, { ttlMs: 60_000, jobId: 'job-a' })),
        await first.request<Pinhole>('open', openReq(env, { ttlMs: 60_000, jobId: 'job-b', disksPort: true })),
        await first.request<Pinhole>('open', openReq(env, { ttlMs: 60_000, jobId: 'job-c' })),
        await first.request<Pinhole>('open', openReq(env, { ttlMs: 60_000, jobId: 'job-adopted' })),
      ];
      const short = await first.request<Pinhole>('open', openReq(env, { ttlMs: 1000, jobId: 'job-short' }));
      assert.deepEqual(await env.view.foreign(), before, 'installing touched nothing else');
      await first.kill('SIGKILL');

      await sleep(Math.max(0, short.expiresAt - Date.now()) + 300);
      const leftovers = await env.view.pinholeIds();
      assert.ok(
        long.every((h) => leftovers.includes(h.id)),
        'the killed agent left its holes behind',
      );

      const second = await agentOn(env);
      const adopted = long[3]!;
      await second.request('adopt', { holes: [adopted] });
      const report = await second.request<ReconcileReport>('reconcile');
      assert.equal(report.removedStale, 3, JSON.stringify(report));
      assert.equal(report.restored, 0, JSON.stringify(report));
      assert.equal(report.jumpInstalled, false, JSON.stringify(report));
      // iptables keeps an expired rule until someone deletes it; nftables lists no expired element.
      assert.equal(report.removedExpired, env.backend === 'iptables' ? 1 : 0, JSON.stringify(report));
      assert.deepEqual(await env.view.pinholeIds(), [adopted.id], 'only the adopted hole is left');
      assert.equal(await env.view.skeletonProblem(), '');
      assert.deepEqual(await env.view.foreign(), before, "everything but Ferry's rules is byte-identical");

      // A third start-up on a clean firewall writes nothing.
      const third = await agentOn(env);
      await third.request('adopt', { holes: [adopted] });
      assert.equal((await third.request<ReconcileReport>('reconcile')).changed, false);

      await second.request('uninstall');
      assert.deepEqual(await env.view.anyFerry(), { iptables: false, nftables: false });
      assert.deepEqual(await env.view.foreign(), before, 'uninstall leaves exactly what was there');
    } finally {
      await runSh(env, env.foreignRules.remove, true);
    }
  });

  it('64 holes opened and closed concurrently: distinct ports, every hole written once, none left behind', async (t) => {
    const env = envOf();
    const agent = await agentOn(env);
    await agent.request('reconcile');
    const size = RANGE.last - RANGE.first + 1;

    let t0 = performance.now();
    const holes = await Promise.all(
      Array.from({ length: size }, (_, i) => agent.request<Pinhole>('open', openReq(env, { jobId: `job-${i}`, ttlMs: 120_000 }))),
    );
    t.diagnostic(`${env.backend}: ${size} concurrent opens: ${(performance.now() - t0).toFixed(0)} ms`);
    const ports = holes.map((h) => h.ports[0]!);
    assert.equal(new Set(ports).size, size, 'no duplicate ports');
    assert.ok(ports.every((p) => p >= RANGE.first && p <= RANGE.last));
    assert.deepEqual(await env.view.pinholeEntries(), holes.map((h) => h.id).sort(), 'every hole exactly once, none lost to a race');
    await assert.rejects(agent.request('open', openReq(env)), (e: unknown) => e instanceof DriverError && e.kind === 'RESOURCE_EXHAUSTED');

    t0 = performance.now();
    const closed = await Promise.all(holes.map((h) => agent.request<boolean>('close', { pinholeId: h.id })));
    t.diagnostic(`${env.backend}: ${size} concurrent closes: ${(performance.now() - t0).toFixed(0)} ms`);
    assert.ok(closed.every((c) => c === true));
    assert.deepEqual(await env.view.pinholeEntries(), []);
    assert.deepEqual(await agent.request('reserved'), []);

    // Opens and closes racing each other (32 held + 32 new = the whole range: no room for slack).
    const a = await Promise.all(Array.from({ length: 32 }, (_, i) => agent.request<Pinhole>('open', openReq(env, { jobId: `a-${i}` }))));
    const [b] = await Promise.all([
      Promise.all(Array.from({ length: 32 }, (_, i) => agent.request<Pinhole>('open', openReq(env, { jobId: `b-${i}` })))),
      Promise.all(a.map((h) => agent.request('close', { pinholeId: h.id }))),
    ]);
    assert.deepEqual(await env.view.pinholeEntries(), b.map((h) => h.id).sort(), 'exactly the holes opened during the race');
    const bPorts = b.flatMap((h) => h.ports);
    assert.equal(new Set(bPorts).size, bPorts.length, 'no duplicate ports among the racing opens');
    assert.deepEqual((await agent.request<Pinhole[]>('list')).map((h) => h.id).sort(), b.map((h) => h.id).sort());

    await Promise.all(b.map((h) => agent.request('close', { pinholeId: h.id })));
    assert.deepEqual(await env.view.pinholeEntries(), []);
    assert.equal(await env.view.skeletonProblem(), '', 'only the skeleton remains');
    assert.deepEqual(await agent.request('reserved'), []);
  });

  it('switching backends: the new one removes what the other left, and its pinholes work', async () => {
    const env = envOf();
    const other: Backend = env.backend === 'nftables' ? 'iptables' : 'nftables';
    const old = await agentOn(env, other);
    await old.request('reconcile');
    await old.request('open', openReq(env, { jobId: 'job-old', ttlMs: 60_000 }));
    await old.kill('SIGKILL');
    assert.equal((await env.view.anyFerry())[other], true, `the ${other} backend left its rules`);

    const agent = await agentOn(env);
    await agent.request('reconcile');
    const present = await env.view.anyFerry();
    assert.equal(present[other], false, `the ${env.backend} backend removed the ${other} rules`);
    assert.equal(present[env.backend], true);

    const qemu = await env.start('qemu');
    const source = await env.start('source');
    const hole = await agent.request<Pinhole>('open', openReq(env));
    await qemu.request('listen', { host: env.dst, ports: hole.ports });
    const ok = await env.connect(source, hole.ports[0]!);
    assert.equal(ok.outcome, 'connected', `no leftover of the ${other} backend resets the new pinhole: ${JSON.stringify(ok)}`);
  });
}

/** Rules of other software, one of each kind a host may have, that no backend may touch. */
export const FOREIGN_RULES = {
  add: [
    'iptables -w -N FOREIGN-TEST',
    'iptables -w -A FOREIGN-TEST -j RETURN',
    'iptables -w -A INPUT -s 198.19.0.250/32 -p udp --dport 9999 -m comment --comment "foreign: keep me" -j ACCEPT',
    'iptables -w -A INPUT -p tcp --dport 8443 -j FOREIGN-TEST',
    'ip6tables -w -A INPUT -p udp --dport 9999 -m comment --comment "foreign v6" -j ACCEPT',
    'nft add table inet foreign',
    "nft 'add chain inet foreign input { type filter hook input priority 5; policy accept; }'",
    'nft add rule inet foreign input udp dport 9998 counter accept comment \\"foreign nft\\"',
  ],
  remove: [
    'iptables -w -D INPUT -s 198.19.0.250/32 -p udp --dport 9999 -m comment --comment "foreign: keep me" -j ACCEPT',
    'iptables -w -D INPUT -p tcp --dport 8443 -j FOREIGN-TEST',
    'iptables -w -F FOREIGN-TEST',
    'iptables -w -X FOREIGN-TEST',
    'ip6tables -w -D INPUT -p udp --dport 9999 -m comment --comment "foreign v6" -j ACCEPT',
    'nft delete table inet foreign',
  ],
};
