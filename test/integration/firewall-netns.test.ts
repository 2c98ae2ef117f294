/**
 * Both firewall backends against the real kernel, nft and iptables, in a
 * throwaway network namespace of this test's own (unshare --net): the
 * destination, the source (198.19.0.2) and a third host (198.19.0.1) are
 * addresses of its loopback interface, and a connection between two local
 * addresses passes the input hook like any other. The machine's own firewall
 * is never touched. The same suite runs on the lab in test/e2e/firewall-pinhole.test.ts.
 *
 * Needs root, unshare and nsenter (util-linux), nft (nftables) and iptables;
 * fails, never skips, when it cannot set the namespace up.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { Pinhole } from '../../agent/firewall/firewall.js';
import { BACKENDS, type Exec, FirewallView } from '../support/firewall-inspect.js';
import { DRIVER, Driver } from '../support/firewall-lab.js';
import { REPO_ROOT } from '../support/lab.js';
import {
  agentOn,
  assertRefusedFast,
  FOREIGN_RULES,
  type PinholeEnv,
  pinholeTests,
  RANGE,
  type Role,
  uninstallAll,
} from '../support/pinhole-suite.js';

const DST = '198.19.0.3';
const SRC = '198.19.0.2';
const THIRD = '198.19.0.1';

let holder: ChildProcess | undefined;
let problem: unknown;
const drivers: Driver[] = [];

function nsenter(argv: string[]): string[] {
  return ['nsenter', `--net=/proc/${holder!.pid}/ns/net`, '--', ...argv];
}

const exec: Exec = (argv) =>
  new Promise((resolve) => {
    const [bin, ...args] = nsenter(argv);
    const child = spawn(bin!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => resolve({ code: 127, stdout, stderr: String(err) }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });

/** The namespace: loopback up, with the three addresses (no dummy module needed); it lives as long as `sleep`. */
async function startHolder(): Promise<void> {
  const setup = [
    'ip link set lo up',
    `ip addr add ${THIRD}/32 dev lo`,
    `ip addr add ${SRC}/32 dev lo`,
    `ip addr add ${DST}/32 dev lo`,
    'echo ready',
    'exec sleep 3600',
  ].join(' && ');
  holder = spawn('unshare', ['--net', '--', 'sh', '-ec', setup], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  holder.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the private namespace did not come up in 10 s: ${stderr}`)), 10_000);
    holder!.once('error', (err) => reject(new Error(`cannot run unshare (util-linux, as root): ${err.message}`)));
    holder!.once('exit', (code) =>
      reject(new Error(`unshare --net (needs root) exited (${code}) setting the namespace up: ${stderr.trim()}`)),
    );
    createInterface({ input: holder!.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      if (line === 'ready') resolve();
      else reject(new Error(`unexpected output from the namespace setup: ${line}`));
    });
  });
  for (const tool of [['nft', '--version'], ['iptables-save'], ['ip6tables-save']]) {
    const r = await exec(tool);
    assert.equal(r.code, 0, `${tool[0]} does not run in the namespace (install nftables and iptables): ${r.stderr}`);
  }
}

/** What the driver's guard checks: it runs in the namespace made here, not in this test's own. */
function netnsIds(): Record<string, string> {
  return {
    FERRY_PRIVATE_NETNS: String(statSync(`/proc/${holder!.pid}/ns/net`).ino),
    FERRY_PARENT_NETNS: String(statSync('/proc/self/ns/net').ino),
  };
}

async function start(role: Role): Promise<Driver> {
  const [bin, ...args] = nsenter(['node', DRIVER]);
  const child = spawn(bin!, args, { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...netnsIds() } });
  const d = await Driver.attach(child, 'netns', role);
  drivers.push(d);
  return d;
}

function envFor(backend: (typeof BACKENDS)[number]): PinholeEnv {
  return {
    backend,
    start,
    connect: (from, port, timeoutMs = 3000) =>
      from.request('connect', { host: DST, port, timeoutMs, localAddress: from.role === 'attacker' ? THIRD : SRC }),
    exec,
    view: new FirewallView(backend, exec),
    dst: DST,
    src: SRC,
    foreignRules: FOREIGN_RULES,
  };
}

describe('firewall backends in a private network namespace', { timeout: 600_000 }, () => {
  before(async () => {
    try {
      assert.ok(existsSync(join(REPO_ROOT, DRIVER)), `${DRIVER} missing: build first (npx tsc -p tsconfig.json)`);
      await startHolder();
    } catch (err) {
      problem = err;
    }
  });

  after(() => {
    holder?.kill('SIGKILL');
  });

  for (const backend of BACKENDS) {
    describe(`${backend}`, () => {
      const env = envFor(backend);
      beforeEach(() => {
        if (problem) throw problem;
      });
      afterEach(async () => {
        for (const d of drivers.splice(0)) await d.stop().catch(() => undefined);
        if (!problem) await uninstallAll(env);
      });

      pinholeTests(() => env);
    });
  }

  describe('nftables under a host firewall that drops', () => {
    const env = envFor('nftables');
    beforeEach(() => {
      if (problem) throw problem;
    });
    afterEach(async () => {
      for (const d of drivers.splice(0)) await d.stop().catch(() => undefined);
      await exec(['nft', 'delete', 'table', 'inet', 'hostfw']);
      if (!problem) await uninstallAll(env);
    });

    it("without the host's rule: a warning naming it, and the source cannot connect; with it: the source connects, a third host is reset", async () => {
      const hostfw = [
        'table inet hostfw {',
        '  chain input {',
        '    type filter hook input priority filter; policy drop;',
        '    ct state established,related accept',
        '  }',
        '}',
      ].join('\n');
      const r = await exec(['sh', '-ec', `printf '%s\\n' '${hostfw}' | nft -f -`]);
      assert.equal(r.code, 0, r.stderr);
      const agent = await agentOn(env);
      await agent.request('reconcile');
      const warnings = await agent.request<string[]>('hostWarnings');
      assert.equal(warnings.length, 1, JSON.stringify(warnings));
      const rule = 'nft insert rule inet hostfw input ct mark and 0x00800000 == 0x00800000 accept';
      assert.ok(warnings[0]!.includes(rule), warnings[0]);

      const qemu = await start('qemu');
      const source = await start('source');
      const attacker = await start('attacker');
      const hole = await agent.request<Pinhole>('open', {
        request: { vmId: 'vm-1', jobId: 'job-1', source: SRC, destination: DST, ttlMs: 30_000 },
      });
      const port = hole.ports[0]!;
      await qemu.request('listen', { host: DST, ports: [port] });
      const dropped = await env.connect(source, port, 1500);
      assert.equal(dropped.outcome, 'timeout', `the host's drop wins over Ferry's accept: ${JSON.stringify(dropped)}`);

      const added = await exec(['sh', '-ec', rule]);
      assert.equal(added.code, 0, added.stderr);
      assert.deepEqual(await agent.request('hostWarnings'), [], 'the warning goes once the rule is there');
      const ok = await env.connect(source, port);
      assert.equal(ok.outcome, 'connected', JSON.stringify(ok));
      assert.equal(await source.request('echo', { connId: ok.connId, data: 'through both tables' }), 'through both tables');
      assertRefusedFast(await env.connect(attacker, port), 'a third host, with the host rule in place');
      assertRefusedFast(await env.connect(source, RANGE.last), 'the source on a port without a hole');
    });
  });
});
