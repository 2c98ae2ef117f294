// A mixed lab: lab3 has KVM hidden (`scripts/lab up --no-kvm=3`), lab1 sees
// the machine's /dev/kvm if it has one. The TCG-only path is then exercised on
// every machine, and the KVM-or-not answers of libvirt and ferryd are checked
// against each other. A KVM guest is refused before it moves (Migrate's
// checks ask lab3). lab3 gets its KVM back afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { unary } from '../../shared/client.js';
import { isFerryError } from '../../shared/errors.js';
import { createVm, destroyVm, ensureLab, labExec, labHostKvm, machineHasKvm, setLabKvmHidden, virsh } from '../support/lab.js';
import { agent, closeAgents, domainState, pinholeRulesAfterJob, watchToEnd } from '../support/ferry.js';

const KVM_WARNING = '/dev/kvm is missing or not usable by ferryd: guests cannot use KVM acceleration';
const VM_TCG = 'e2e-nokvm-tcg';
const VM_MOVE = 'e2e-nokvm-move';

before(async () => {
  await ensureLab(3);
  await setLabKvmHidden(3, [3]);
});

after(async () => {
  for (const name of [VM_TCG, VM_MOVE]) await destroyVm('lab1', name);
  closeAgents();
  await setLabKvmHidden(3, []);
});

test('lab3 has no /dev/kvm, a TCG-only libvirt and a ferryd that says so; the rest of its /dev works', async () => {
  assert.deepEqual(labHostKvm('lab3'), { kvm: false, hidden: true });
  const probe = await labExec('lab3', ['test', '-e', '/dev/kvm'], { allowFail: true });
  assert.notEqual(probe.code, 0, '/dev/kvm is visible inside lab3');
  await labExec('lab3', ['sh', '-c', 'test -c /dev/null && test -c /dev/net/tun && test -d /dev/pts && test -e /dev/ptmx']);

  const caps = await virsh('lab3', 'capabilities');
  assert.doesNotMatch(caps, /<domain type='kvm'/);
  assert.match(caps, /<domain type='qemu'/);

  const lab3 = await unary(agent('lab3').host, 'GetCapabilities', {});
  assert.equal(lab3.kvmAvailable, false);
  assert.ok(lab3.warnings.includes(KVM_WARNING), lab3.warnings.join('; '));
});

test("lab1 keeps the machine's KVM: ferryd and libvirt agree with /dev/kvm", async () => {
  const lab1 = labHostKvm('lab1');
  assert.equal(lab1.hidden, false);
  assert.equal(lab1.kvm, machineHasKvm(), "lab1's libvirt vs this machine's /dev/kvm");
  const caps = await unary(agent('lab1').host, 'GetCapabilities', {});
  assert.equal(caps.kvmAvailable, lab1.kvm);
  assert.equal(caps.warnings.includes(KVM_WARNING), !lab1.kvm, caps.warnings.join('; '));
});

test('a disk-less guest on lab3 runs under TCG', async () => {
  const vm = await createVm('lab3', VM_TCG);
  assert.match(await virsh('lab3', 'dumpxml', vm.name), /^<domain type='qemu'/);
  assert.equal(await domainState('lab3', vm.name), 'running');
});

test('lab1 → lab3: a TCG guest moves; a KVM guest cannot, is refused before anything starts, and stays running on lab1 with no hole left', async () => {
  const vm = await createVm('lab1', VM_MOVE);
  const kvmGuest = /^<domain type='kvm'/.test(await virsh('lab1', 'dumpxml', vm.name));
  assert.equal(kvmGuest, labHostKvm('lab1').kvm);

  const request = { vmId: vm.uuid, dst: '198.18.0.3', dstqemu: '198.19.0.3' };
  if (kvmGuest) {
    // lab3's agent knows it has no /dev/kvm (CheckIncoming): Migrate refuses
    // up front, naming the reason, and no job, reservation or hole exists.
    const jobsBefore = (await unary(agent('lab1').migration, 'ListMigrations', { pageSize: 500 })).jobs.length;
    await assert.rejects(unary(agent('lab1').migration, 'Migrate', request), (err) => {
      assert.ok(isFerryError(err, 'FAILED_PRECONDITION'), String(err));
      assert.equal(err.reason, 'MIGRATION_CHECK_FAILED');
      assert.match(err.message, /runs under KVM and the destination has no usable \/dev\/kvm/);
      assert.deepEqual(
        err.details.violations?.map((v) => v.type),
        ['MIGRATION_CHECK_REASON_KVM_UNAVAILABLE'],
      );
      return true;
    });
    assert.equal((await unary(agent('lab1').migration, 'ListMigrations', { pageSize: 500 })).jobs.length, jobsBefore);
    assert.equal(await domainState('lab1', vm.name), 'running');
    assert.equal(await domainState('lab3', vm.name), 'absent');
  } else {
    const accepted = await unary(agent('lab1').migration, 'Migrate', request);
    const final = (await watchToEnd('lab1', accepted.jobId)).at(-1);
    assert.ok(final);
    assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
    assert.equal(await domainState('lab3', vm.name), 'running');
  }
  assert.deepEqual(await pinholeRulesAfterJob('lab3'), []);
});
