/**
 * Firewall pinholes against real iptables on the lab: lab3 is the destination
 * (the agent's firewall runs there in a driver process, and a separate process
 * stands in for QEMU), lab2 is the source, lab1 the attacker on the migration
 * network. These tests fail, not skip, when the lab cannot come up.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { Pinhole, ReconcileReport } from '../../agent/firewall/firewall.js';
import { ensureLab, labExec, labHost, REPO_ROOT } from '../support/lab.js';
import { ferryd } from '../support/ferry.js';
import { DRIVER, Driver, DriverError, ferryLines, normalizeSave, withoutFerry, type ConnectResult } from '../support/firewall-lab.js';
import { sleep } from '../support/wait.js';

const RANGE = { first: 49152, last: 49215 };
/** A refused connection must fail at once (RST), never wait for a SYN timeout. */
const FAST_MS = 1000;

let labProblem: unknown;
let DST = '';
let SRC = '';
const drivers: Driver[] = [];

async function start(host: string, role: string): Promise<Driver> {
  const d = await Driver.start(host, role);
  drivers.push(d);
  return d;
}

async function agentInLab3(): Promise<Driver> {
  const agent = await start('lab3', 'agent');
  await agent.request('create', { config: { backend: 'iptables', portRange: RANGE } });
  return agent;
}

async function uninstallLab3(): Promise<void> {
  const d = await Driver.start('lab3', 'cleanup');
  try {
    await d.request('create', { config: { backend: 'iptables', portRange: RANGE } });
    await d.request('uninstall');
  } finally {
    await d.stop();
  }
}

function openReq(over: Record<string, unknown> = {}) {
  return { request: { vmId: 'vm-e2e', jobId: 'job-e2e', source: SRC, destination: DST, ttlMs: 30_000, ...over } };
}

async function connect(from: Driver, port: number, timeoutMs = 3000): Promise<ConnectResult> {
  return from.request<ConnectResult>('connect', { host: DST, port, timeoutMs });
}

function assertRefusedFast(r: ConnectResult, what: string): void {
  assert.equal(r.outcome, 'refused', `${what}: expected a TCP reset, got ${JSON.stringify(r)}`);
  assert.ok(r.elapsedMs < FAST_MS, `${what}: refused only after ${r.elapsedMs} ms`);
}

async function save(family: 'ipv4' | 'ipv6' = 'ipv4'): Promise<string> {
  const r = await labExec('lab3', [family === 'ipv4' ? 'iptables-save' : 'ip6tables-save']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

describe('firewall pinholes on the lab (lab3 destination, lab2 source, lab1 attacker)', { timeout: 300_000 }, () => {
  // A lab that cannot come up makes every test below fail (counted as failed, not cancelled or skipped).
  before(async () => {
    try {
      await ensureLab(3);
      // The agents here are this test's drivers: lab3's own ferryd would own the same chain.
      await ferryd('stop', 'lab3');
      assert.ok(existsSync(join(REPO_ROOT, DRIVER)), `${DRIVER} missing: build first (npx tsc -p tsconfig.json)`);
      DST = labHost(3).migIp;
      SRC = labHost(2).migIp;
      await uninstallLab3();
    } catch (err) {
      labProblem = err;
    }
  });

  beforeEach(() => {
    if (labProblem) throw labProblem;
  });

  // Every test starts from a lab3 without Ferry's chain, whatever the previous one left.
  afterEach(async () => {
    for (const d of drivers.splice(0)) await d.stop().catch(() => undefined);
    if (!labProblem) await uninstallLab3();
  });

  after(async () => {
    for (const d of drivers.splice(0)) await d.stop().catch(() => undefined);
    if (!labProblem) await uninstallLab3();
    await ferryd('start', 'lab3');
  });

  it('an open pinhole lets the source in, and only the source, and only on its port', async () => {
    const agent = await agentInLab3();
    await agent.request('reconcile');
    const qemu = await start('lab3', 'qemu');
    const source = await start('lab2', 'source');
    const attacker = await start('lab1', 'attacker');

    // Something already listens on the first port of the range: the allocator must skip it,
    // and (no hole for it) the firewall must keep it closed.
    const busy = RANGE.first;
    await qemu.request('listen', { host: DST, ports: [busy] });
    assertRefusedFast(await connect(source, busy), 'the range is closed by default');

    const hole = await agent.request<Pinhole>('open', openReq());
    assert.notEqual(hole.ports[0], busy, 'a port with a listening socket is never handed out');
    const port = hole.ports[0]!;
    await qemu.request('listen', { host: DST, ports: [port] });

    const ok = await connect(source, port);
    assert.equal(ok.outcome, 'connected', JSON.stringify(ok));
    assert.equal(await source.request('echo', { connId: ok.connId, data: 'vm state' }), 'vm state');

    assertRefusedFast(await connect(attacker, port), 'a third host on the migration network');
    assertRefusedFast(await connect(source, busy), 'the source on another port of the range');

    // Closed as soon as asked: new connections are refused, the established one lives on.
    assert.equal(await agent.request('close', { pinholeId: hole.id }), true);
    assertRefusedFast(await connect(source, port), 'the source after close');
    assert.equal(await source.request('echo', { connId: ok.connId, data: 'more state' }), 'more state');

    // Control: without Ferry's chain the attacker does get in, so the resets above were ours.
    await agent.request('uninstall');
    assert.equal((await connect(attacker, port)).outcome, 'connected');
  });

  it('the kernel closes an expired hole although the agent was SIGKILLed; established connections survive', async () => {
    const agent = await agentInLab3();
    await agent.request('reconcile');
    const qemu = await start('lab3', 'qemu');
    const source = await start('lab2', 'source');
    const attacker = await start('lab1', 'attacker');

    const hole = await agent.request<Pinhole>('open', openReq({ ttlMs: 3000, jobId: 'job-expiry' }));
    const port = hole.ports[0]!;
    await qemu.request('listen', { host: DST, ports: [port] });
    const established = await connect(source, port);
    assert.equal(established.outcome, 'connected', JSON.stringify(established));
    assert.equal(await source.request('echo', { connId: established.connId, data: 'before' }), 'before');

    await agent.kill('SIGKILL');
    assert.ok(Date.now() < hole.expiresAt, 'the agent died before the expiry, so its own timer never ran');

    await sleep(hole.expiresAt - Date.now() + 700);
    const rules = ferryLines(await save()).rules;
    assert.ok(
      rules.some((l) => l.includes(hole.id)),
      'the rule is still there: only the kernel can have closed the hole',
    );

    assertRefusedFast(await connect(source, port), 'a new connection from the source after expiry');
    assertRefusedFast(await connect(attacker, port), 'the attacker after expiry');
    assert.equal(await source.request('echo', { connId: established.connId, data: 'after expiry' }), 'after expiry');
  });

  it("a live agent's own timer removes the rule at expiry and frees the port", async () => {
    const agent = await agentInLab3();
    await agent.request('reconcile');
    const hole = await agent.request<Pinhole>('open', openReq({ ttlMs: 1000, jobId: 'job-timer' }));
    assert.ok(ferryLines(await save()).rules.some((l) => l.includes(hole.id)));
    await sleep(hole.expiresAt - Date.now() + 500);
    assert.ok(!ferryLines(await save()).rules.some((l) => l.includes(hole.id)), 'the agent deleted the expired rule');
    assert.deepEqual(await agent.request('list'), []);
    assert.deepEqual(await agent.request('reserved'), []);
  });

  it("a restarted agent removes stale and expired rules and leaves other software's rules byte-identical", async () => {
    const foreign = [
      'iptables -w -N FOREIGN-TEST',
      'iptables -w -A FOREIGN-TEST -j RETURN',
      'iptables -w -A INPUT -s 198.19.0.250/32 -p udp --dport 9999 -m comment --comment "foreign: keep me" -j ACCEPT',
      'iptables -w -A INPUT -p tcp --dport 8443 -j FOREIGN-TEST',
      'ip6tables -w -A INPUT -p udp --dport 9999 -m comment --comment "foreign v6" -j ACCEPT',
    ];
    const unforeign = [
      'iptables -w -D INPUT -s 198.19.0.250/32 -p udp --dport 9999 -m comment --comment "foreign: keep me" -j ACCEPT',
      'iptables -w -D INPUT -p tcp --dport 8443 -j FOREIGN-TEST',
      'iptables -w -F FOREIGN-TEST',
      'iptables -w -X FOREIGN-TEST',
      'ip6tables -w -D INPUT -p udp --dport 9999 -m comment --comment "foreign v6" -j ACCEPT',
    ];
    const added = await labExec('lab3', ['sh', '-ec', foreign.join('\n')]);
    assert.equal(added.code, 0, added.stderr);
    try {
      const before4 = await save('ipv4');
      const before6 = await save('ipv6');
      assert.deepEqual(ferryLines(before4).rules, [], 'no Ferry chain before the test');

      const first = await agentInLab3();
      await first.request('reconcile');
      const long = [
        await first.request<Pinhole>('open', openReq({ ttlMs: 60_000, jobId: 'job-a' })),
        await first.request<Pinhole>('open', openReq({ ttlMs: 60_000, jobId: 'job-b', disksPort: true })),
        await first.request<Pinhole>('open', openReq({ ttlMs: 60_000, jobId: 'job-c' })),
      ];
      const short = await first.request<Pinhole>('open', openReq({ ttlMs: 1000, jobId: 'job-short' }));
      assert.deepEqual(withoutFerry(await save('ipv4')), normalizeSave(before4), 'installing touched nothing else');
      await first.kill('SIGKILL');

      await sleep(Math.max(0, short.expiresAt - Date.now()) + 300);
      const leftovers = ferryLines(await save()).rules.filter((l) => l.includes('ferry pinhole='));
      assert.equal(leftovers.length, 4, 'the killed agent left its 4 rules behind');
      assert.ok(long.every((h) => leftovers.some((l) => l.includes(h.id))));

      const second = await agentInLab3();
      const report = await second.request<ReconcileReport>('reconcile');
      assert.deepEqual(report, {
        backend: 'iptables',
        removedStale: 3,
        removedExpired: 1,
        restored: 0,
        jumpInstalled: false,
        changed: true,
      });

      const after4 = await save('ipv4');
      const after6 = await save('ipv6');
      for (const dump of [after4, after6]) {
        const ours = ferryLines(dump);
        assert.deepEqual(ours.rules, [
          '-A FERRY-MIGRATION -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
          '-A FERRY-MIGRATION -p tcp -j REJECT --reject-with tcp-reset',
        ]);
        assert.deepEqual(ours.jumps, ['-A INPUT -p tcp -m tcp --dport 49152:49215 -j FERRY-MIGRATION'], 'exactly one jump');
      }
      assert.deepEqual(withoutFerry(after4), normalizeSave(before4), 'IPv4: everything but our chain and jump is byte-identical');
      assert.deepEqual(withoutFerry(after6), normalizeSave(before6), 'IPv6: everything but our chain and jump is byte-identical');

      // A second start-up on a clean firewall writes nothing.
      const third = await agentInLab3();
      assert.equal((await third.request<ReconcileReport>('reconcile')).changed, false);

      await second.request('uninstall');
      assert.deepEqual(normalizeSave(await save('ipv4')), normalizeSave(before4), 'uninstall leaves exactly what was there');
      assert.deepEqual(normalizeSave(await save('ipv6')), normalizeSave(before6));
    } finally {
      await labExec('lab3', ['sh', '-c', unforeign.join('\n')], { allowFail: true });
    }
  });

  it('64 holes opened and closed concurrently: distinct ports, every rule written, none left behind', async (t) => {
    const agent = await agentInLab3();
    await agent.request('reconcile');
    const size = RANGE.last - RANGE.first + 1;
    const pinholeRules = async () => ferryLines(await save()).rules.filter((l) => l.includes('ferry pinhole='));

    let t0 = performance.now();
    const holes = await Promise.all(
      Array.from({ length: size }, (_, i) => agent.request<Pinhole>('open', openReq({ jobId: `job-${i}`, ttlMs: 120_000 }))),
    );
    t.diagnostic(`${size} concurrent opens: ${(performance.now() - t0).toFixed(0)} ms`);
    const ports = holes.map((h) => h.ports[0]!);
    assert.equal(new Set(ports).size, size, 'no duplicate ports');
    assert.ok(ports.every((p) => p >= RANGE.first && p <= RANGE.last));
    let rules = await pinholeRules();
    assert.equal(rules.length, size, 'no rule lost to a race');
    assert.ok(holes.every((h) => rules.filter((l) => l.includes(`ferry pinhole=${h.id} `)).length === 1));
    await assert.rejects(agent.request('open', openReq()), (e: unknown) => e instanceof DriverError && e.kind === 'RESOURCE_EXHAUSTED');

    t0 = performance.now();
    const closed = await Promise.all(holes.map((h) => agent.request<boolean>('close', { pinholeId: h.id })));
    t.diagnostic(`${size} concurrent closes: ${(performance.now() - t0).toFixed(0)} ms`);
    assert.ok(closed.every((c) => c === true));
    assert.deepEqual(await pinholeRules(), []);
    assert.deepEqual(await agent.request('reserved'), []);

    // Opens and closes racing each other (32 held + 32 new = the whole range: no room for slack).
    const a = await Promise.all(Array.from({ length: 32 }, (_, i) => agent.request<Pinhole>('open', openReq({ jobId: `a-${i}` }))));
    const [b] = await Promise.all([
      Promise.all(Array.from({ length: 32 }, (_, i) => agent.request<Pinhole>('open', openReq({ jobId: `b-${i}` })))),
      Promise.all(a.map((h) => agent.request('close', { pinholeId: h.id }))),
    ]);
    rules = await pinholeRules();
    assert.equal(rules.length, 32);
    assert.ok(
      b.every((h) => rules.some((l) => l.includes(`ferry pinhole=${h.id} `))),
      'every hole opened during the race has its rule',
    );
    assert.ok(
      a.every((h) => !rules.some((l) => l.includes(h.id))),
      'every hole closed during the race lost its rule',
    );
    const bPorts = b.flatMap((h) => h.ports);
    assert.equal(new Set(bPorts).size, bPorts.length, 'no duplicate ports among the racing opens');
    assert.deepEqual((await agent.request<Pinhole[]>('list')).map((h) => h.id).sort(), b.map((h) => h.id).sort());

    await Promise.all(b.map((h) => agent.request('close', { pinholeId: h.id })));
    assert.deepEqual(await pinholeRules(), []);
    assert.equal(ferryLines(await save()).rules.length, 2, 'only the ESTABLISHED and REJECT rules remain');
    assert.deepEqual(await agent.request('reserved'), []);
  });
});
