/**
 * Proof that scripts/lab builds a real multi-host lab: separate libvirtds with
 * distinct identities, guests under KVM, a management network the engine (this
 * process) reaches and a migration network it does not, and a guest that really
 * dirties memory and survives live migration over the migration network.
 *
 * Needs root. If the lab cannot come up, every test fails (no skips).
 *   node --test --test-concurrency=1 dist/test/e2e/lab.test.js
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createVm, destroyVm, ensureLab, labExec, labHostKvm, machineHasKvm, readConsole, virsh, type LabHost } from '../support/lab.js';
import { sleep, until } from '../support/wait.js';

const RUN = `labtest${process.pid}`;
const created: Array<{ host: string; name: string }> = [];

async function newVm(host: string, suffix: string, opts: { dirtyMbps?: number } = {}) {
  const name = `${RUN}-${suffix}`;
  created.push({ host, name });
  return createVm(host, name, opts);
}

/** Runs a command in this (root) namespace; resolves to its exit code and output. */
function rootCmd(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

function tagText(xml: string, tag: string): string | undefined {
  return new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)?.[1]?.trim();
}

/**
 * Live P2P migration as Ferry will do it: control over mgmt, RAM over the
 * migration network. The port is outside libvirt's default range
 * 49152-49215, which ferryd's firewall (running in every lab host) closes
 * except for pinholes it opens itself: this test is about the lab, not ferryd.
 */
let nextPort = 49300 + (process.pid % 500) * 2;
function migrateArgs(name: string, src: LabHost, dst: LabHost, extra: string[] = []): string[] {
  return [
    '-c',
    src.libvirtUri,
    'migrate',
    '--live',
    '--p2p',
    name,
    dst.libvirtUri,
    `tcp://${dst.migIp}:${nextPort++}`,
    '--listen-address',
    dst.migIp,
    ...extra,
  ];
}

let lab1: LabHost;
let lab2: LabHost;

before(async () => {
  [lab1, lab2] = (await ensureLab(2)) as [LabHost, LabHost];
});

after(async () => {
  for (const { host, name } of created) await destroyVm(host, name);
});

describe('lab hosts', () => {
  test('each host runs its own libvirtd with its own hostname and host UUID', async () => {
    const seen = new Map<string, string>();
    for (const h of [lab1, lab2]) {
      assert.equal((await virsh(h.name, 'hostname')).trim(), h.name);
      const caps = await virsh(h.name, 'capabilities');
      const uuid = tagText(caps.slice(caps.indexOf('<host>')), 'uuid');
      assert.equal(uuid, h.hostUuid, `${h.name}: capabilities host UUID vs lab.json`);
      seen.set(h.name, uuid!);
      // Inside the host, the unix socket reaches that host's own daemon.
      const inside = await labExec(h.name, ['virsh', '-c', 'qemu:///system', 'hostname']);
      assert.equal(inside.stdout.trim(), h.name);
      assert.equal((await labExec(h.name, ['hostname'])).stdout.trim(), h.name);
    }
    assert.notEqual(seen.get('lab1'), seen.get('lab2'), 'host UUIDs must differ');
  });

  test('a guest created in lab1 runs under KVM (or TCG where /dev/kvm is missing)', async () => {
    const vm = await newVm('lab1', 'kvm');
    // KVM exactly when this machine has /dev/kvm and the lab did not hide it from lab1.
    const expected = machineHasKvm() && !labHostKvm('lab1').hidden ? 'kvm' : 'qemu';
    const xml = await virsh('lab1', 'dumpxml', vm.name);
    assert.match(xml, new RegExp(`^<domain type='${expected}'`));
    assert.equal(tagText(xml, 'uuid'), vm.uuid);
    assert.equal((await virsh('lab1', 'domstate', vm.name)).trim(), 'running');
    assert.doesNotMatch(await virsh('lab2', 'list', '--all', '--name'), new RegExp(vm.name));
  });

  test('exec passes stdin, stdout, exit code and cwd through', async () => {
    assert.equal((await labExec('lab1', ['cat'], { input: 'hello lab\n' })).stdout, 'hello lab\n');
    const r = await labExec('lab1', ['sh', '-c', 'echo oops >&2; exit 3'], { allowFail: true });
    assert.equal(r.code, 3);
    assert.equal(r.stderr, 'oops\n');
    await assert.rejects(labExec('lab1', ['false']));
    assert.equal((await labExec('lab1', ['pwd'])).stdout.trim(), process.cwd());
  });
});

describe('lab networks', () => {
  test('each host has eth0 on management and eth1 on migration', async () => {
    for (const h of [lab1, lab2]) {
      const out = (await labExec(h.name, ['ip', '-br', '-4', 'addr', 'show'])).stdout;
      assert.match(out, new RegExp(`^eth0\\S*\\s+UP\\s+${h.mgmtIp.replaceAll('.', '\\.')}/24`, 'm'));
      assert.match(out, new RegExp(`^eth1\\S*\\s+UP\\s+${h.migIp.replaceAll('.', '\\.')}/24`, 'm'));
    }
  });

  test('the root namespace reaches the management network', async () => {
    const r = await rootCmd('ping', ['-c', '1', '-W', '2', lab2.mgmtIp]);
    assert.equal(r.code, 0, r.out);
  });

  test('the root namespace does not reach the migration network', async () => {
    const route = await rootCmd('ip', ['route', 'get', lab2.migIp]);
    assert.notEqual(route.code, 0, `unexpected route to ${lab2.migIp}: ${route.out}`);
    const ping = await rootCmd('ping', ['-c', '1', '-W', '1', lab2.migIp]);
    assert.notEqual(ping.code, 0, `root namespace reached ${lab2.migIp}: ${ping.out}`);
  });

  test('lab1 reaches lab2 on both networks', async () => {
    for (const ip of [lab2.mgmtIp, lab2.migIp]) {
      const r = await labExec('lab1', ['ping', '-c', '1', '-W', '2', ip], { allowFail: true });
      assert.equal(r.code, 0, `lab1 -> ${ip}: ${r.stdout}${r.stderr}`);
    }
  });
});

describe('lab guests', () => {
  test('a disk-less guest live-migrates lab1 -> lab2 over the migration network', async () => {
    const vm = await newVm('lab1', 'mig');
    const r = await rootCmd('virsh', migrateArgs(vm.name, lab1, lab2));
    assert.equal(r.code, 0, r.out);
    assert.equal((await virsh('lab2', 'domstate', vm.name)).trim(), 'running');
    assert.equal((await virsh('lab2', 'domuuid', vm.name)).trim(), vm.uuid);
  });

  test('a dirtying guest boots, dirties memory and survives migration', { timeout: 240_000 }, async () => {
    const vm = await newVm('lab1', 'dirty', { dirtyMbps: 20 });
    assert.match(await virsh('lab1', 'dumpxml', vm.name), /^<domain type='qemu'/);
    await until(
      'the dirtier to start on lab1',
      async () => (await readConsole('lab1', vm.name)).includes('ferry-dirtier: started rate=20 MiB/s'),
      { timeoutMs: 120_000, everyMs: 250 },
    );

    // A bandwidth cap makes the migration take several passes, so the job
    // statistics show the guest's dirty rate while it runs.
    const migration = rootCmd('virsh', migrateArgs(vm.name, lab1, lab2, ['--bandwidth', '50']));
    let maxDirtyRate = 0;
    let finished = false;
    void migration.then(() => (finished = true));
    while (!finished) {
      const info = await rootCmd('virsh', ['-c', lab1.libvirtUri, 'domjobinfo', vm.name]);
      const m = /Dirty rate:\s+(\d+)/.exec(info.out);
      if (m) maxDirtyRate = Math.max(maxDirtyRate, Number(m[1]));
      await sleep(500);
    }
    const r = await migration;
    assert.equal(r.code, 0, r.out);
    // 20 MiB/s = 5120 pages/s; TCG timing is loose, so only demand a real rate.
    assert.ok(maxDirtyRate > 1000, `dirty rate seen during migration: ${maxDirtyRate} pages/s`);

    assert.equal((await virsh('lab2', 'domstate', vm.name)).trim(), 'running');
    const line = await until(
      'a progress line from the dirtier on lab2',
      async () => /ferry-dirtier: t=\d+s .*corrupt=\d+/.exec(await readConsole('lab2', vm.name))?.[0],
      { timeoutMs: 30_000, everyMs: 250 },
    );
    const console2 = await readConsole('lab2', vm.name);
    assert.doesNotMatch(console2, /CORRUPTION|Oops|Kernel panic|BUG:/, console2.slice(-2000));
    assert.match(line, /corrupt=0$/);
  });
});
