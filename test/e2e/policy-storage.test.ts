// copy_storage on the lab, lab3 → lab4: a guest whose qcow2 disk is local to
// lab3 (/var/lib/libvirt/images is each host's own directory) moves with its
// disk. lab4's agent creates the image, libvirt's NBD copy runs over the
// migration network through the pinhole's second (disks) port, and an
// existing file on lab4 is never overwritten.
import { test, before, after as afterAll } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unary } from '../../shared/client.js';
import { agent, closeAgents, domainState, pinholeRulesAfterJob, pinholesOn, sockets, waitForStatus } from '../support/ferry.js';
import { createVm, destroyVm, ensureLab, labExec, readLabState } from '../support/lab.js';
import { follow, migrate } from '../support/policy-lab.js';
import { sleep } from '../support/wait.js';

const VM = 'pol-disk';
const VM_TAKEN = 'pol-disk-taken';
/** The path inside every lab host; each host has its own file there. */
const imageOf = (name: string) => `/var/lib/libvirt/images/${name}.qcow2`;
/** The same file of one host, from the root namespace. */
const hostFile = (host: string, name: string) =>
  join(readLabState().hosts.find((h) => h.name === host)!.dir, 'lib', 'images', `${name}.qcow2`);

before(async () => {
  await ensureLab(4);
});

afterAll(async () => {
  for (const name of [VM, VM_TAKEN]) await destroyVm('lab3', name);
  closeAgents();
});

test("copy_storage all: lab4 creates the image, the disk goes over the pinhole's disks port, the guest runs there on its copy", async () => {
  // 256 MiB disk, its first 128 MiB written with 0x5a; at 16 MiB/s the copy lasts ~8 s.
  const { uuid } = await createVm('lab3', VM, { diskMiB: 256 });
  assert.equal(existsSync(hostFile('lab4', VM)), false);
  const { jobId } = await migrate('lab3', uuid, 'lab4', { copyStorage: 'COPY_STORAGE_ALL', maxBandwidthMibps: 16 });
  const progress = follow('lab3', jobId);
  const running = await waitForStatus('lab3', jobId, (s) => s.phase === 'MIGRATION_PHASE_MIGRATING', 60_000);
  const port = Number(/:(\d+)$/.exec(running.migrateUri)![1]);

  // One hole, two ports: the migration port and the NBD disks port, for lab3's migration address only.
  const holes = await pinholesOn('lab4');
  assert.equal(holes.length, 1, holes.map((h) => h.text).join('\n'));
  const hole = holes[0]!;
  assert.deepEqual([hole.source, hole.destination], ['198.19.0.3', '198.19.0.4'], hole.text);
  assert.equal(hole.ports.length, 2, `a hole with two ports: ${hole.text}`);
  assert.ok(hole.ports.includes(port), `the migration port ${port} is one of them: ${hole.text}`);
  const disksPort = hole.ports.find((p) => p !== port)!;
  // The NBD server listens on lab4's migration address at that port, and lab3's copy is connected to it.
  let onDisksPort: string[] = [];
  for (let i = 0; i < 200 && !onDisksPort.some((s) => s.startsWith('ESTAB ')); i++) {
    onDisksPort = await sockets('lab4', disksPort);
    await sleep(50);
  }
  assert.ok(
    onDisksPort.some((s) => new RegExp(`^ESTAB 198\\.19\\.0\\.4:${disksPort} 198\\.19\\.0\\.3:\\d+$`).test(s)),
    `NBD connection on ${disksPort}: ${onDisksPort.join('; ')}`,
  );
  for (const s of onDisksPort)
    assert.match(s, new RegExp(`^(LISTEN 198\\.19\\.0\\.4:${disksPort} |ESTAB 198\\.19\\.0\\.4:${disksPort} 198\\.19\\.0\\.3:)`));
  assert.ok(existsSync(hostFile('lab4', VM)), 'lab4 created the image before the copy');

  const { final } = await progress;
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
  assert.equal(final.policy!.copyStorage, 'COPY_STORAGE_ALL');
  assert.ok(Number(final.disk!.totalBytes) > 0, `disk counters: ${JSON.stringify(final.disk)}`);
  assert.equal(await domainState('lab4', VM), 'running');
  assert.deepEqual(await pinholeRulesAfterJob('lab4'), []);
  // lab4's own file holds the data (read while the guest runs: -U shares the image lock).
  const read = await labExec('lab4', ['qemu-io', '-r', '-U', '-f', 'qcow2', '-c', 'read -P 0x5a 0 128M', imageOf(VM)]);
  assert.match(read.stdout, /read 134217728\/134217728 bytes/);
  const info = JSON.parse((await labExec('lab4', ['qemu-img', 'info', '-U', '--output=json', imageOf(VM)])).stdout) as {
    format: string;
    'virtual-size': number;
  };
  assert.deepEqual([info.format, info['virtual-size']], ['qcow2', 256 * 2 ** 20]);
});

test('an existing file at the image path on the destination is never overwritten: Migrate fails, nothing is left behind', async () => {
  const { uuid } = await createVm('lab3', VM_TAKEN, { diskMiB: 64 });
  await labExec('lab4', ['mkdir', '-p', '/var/lib/libvirt/images']);
  await writeFile(hostFile('lab4', VM_TAKEN), "somebody else's data");
  await assert.rejects(
    unary(agent('lab3').migration, 'Migrate', {
      vmId: uuid,
      dst: '198.18.0.4',
      dstqemu: '198.19.0.4',
      policy: { copyStorage: 'COPY_STORAGE_ALL' },
    }),
    /ALREADY_EXISTS|already exists on the destination/,
  );
  assert.equal(await readFile(hostFile('lab4', VM_TAKEN), 'utf8'), "somebody else's data");
  assert.deepEqual(await pinholeRulesAfterJob('lab4'), []);
  assert.equal(await domainState('lab3', VM_TAKEN), 'running');
  assert.equal(await domainState('lab4', VM_TAKEN), 'absent');
});
