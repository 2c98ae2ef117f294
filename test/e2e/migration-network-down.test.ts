// The Migration Network test plan's "failed migration interface" and "wrong IPs", on the lab
// (https://www.ovirt.org/develop/release-management/features/network/migration-network.html):
// a destination whose migration NIC is down says so everywhere an engine looks (GetCapabilities,
// gRPC health `ferry.migration`) and refuses a migration over it at once, naming the NIC, instead
// of letting it time out; the guest stays where it was, and once the NIC is back it migrates. A
// source whose only address on the migration NIC is in the wrong subnet is refused before
// anything starts, with what to fix.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { unary } from '../../shared/client.js';
import { agent, closeAgents, domainState, healthOf, pinholeRulesAfterJob, watchToEnd } from '../support/ferry.js';
import { createVm, destroyVm, ensureLab, labExec, labHost } from '../support/lab.js';
import { refusal } from '../support/refusal.js';
import { until } from '../support/wait.js';

const SRC = 'lab1';
const DST = 'lab2';
const VM = 'nic-down-guest';
/** An address of lab1's migration NIC outside the migration network (198.19.0.0/24). */
const WRONG_SUBNET = '198.19.7.1/24';
let uuid = '';

before(async () => {
  await ensureLab(2);
  ({ uuid } = await createVm(SRC, VM));
});

afterEach(async () => {
  await labExec(DST, ['ip', 'link', 'set', 'eth1', 'up']);
  await labExec(SRC, ['ip', 'addr', 'del', WRONG_SUBNET, 'dev', 'eth1'], { allowFail: true });
  await labExec(SRC, ['ip', 'addr', 'replace', `${labHost(SRC).migIp}/24`, 'dev', 'eth1']);
});

after(async () => {
  await destroyVm(SRC, VM).catch(() => undefined);
  await destroyVm(DST, VM).catch(() => undefined);
  closeAgents();
});

function migrateToLab2() {
  return unary(agent(SRC).migration, 'Migrate', { vmId: uuid, dst: labHost(DST).mgmtIp, dstqemu: labHost(DST).migIp });
}

test("the destination's migration NIC down: reported, NOT_SERVING, the migration refused at once naming it; back up, it migrates", async () => {
  await labExec(DST, ['ip', 'link', 'set', 'eth1', 'down']);
  const caps = await until(
    "lab2's GetCapabilities sees the NIC down",
    async () => {
      const c = await unary(agent(DST).host, 'GetCapabilities', {});
      return c.migrationNetwork?.up === false && c;
    },
    { timeoutMs: 5000, everyMs: 200 },
  );
  assert.equal(caps.migrationNetwork?.interface, 'eth1');
  assert.match(caps.migrationNetwork?.downReason ?? '', /\S/, 'a reason is given');
  // The health service follows the link on its own clock (once a second).
  await until('ferry.migration NOT_SERVING', async () => (await healthOf(DST, 'ferry.migration')) === 'NOT_SERVING', {
    timeoutMs: 5000,
    everyMs: 200,
  });
  assert.equal(await healthOf(DST, ''), 'SERVING', 'the agent itself still serves');

  const started = Date.now();
  const err = await refusal(migrateToLab2());
  const tookMs = Date.now() - started;
  assert.equal(err.kind, 'FAILED_PRECONDITION', err.message);
  assert.match(err.message, /migration NIC eth1 \(198\.19\.0\.2\) is down/);
  assert.ok(tookMs < 5000, `refused after ${tookMs} ms`);
  assert.equal(await domainState(SRC, VM), 'running', 'the guest stays on the source');
  assert.deepEqual(await pinholeRulesAfterJob(DST), [], 'no pinhole for a refused migration');

  await labExec(DST, ['ip', 'link', 'set', 'eth1', 'up']);
  await until('ferry.migration SERVING again', async () => (await healthOf(DST, 'ferry.migration')) === 'SERVING', {
    timeoutMs: 5000,
    everyMs: 200,
  });
  const { jobId } = await migrateToLab2();
  const final = (await watchToEnd(SRC, jobId)).at(-1)!;
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
  assert.equal(await domainState(DST, VM), 'running');
  // Back to lab1 for the next test.
  const back = await unary(agent(DST).migration, 'Migrate', { vmId: uuid, dst: labHost(SRC).mgmtIp, dstqemu: labHost(SRC).migIp });
  assert.equal((await watchToEnd(DST, back.jobId)).at(-1)?.phase, 'MIGRATION_PHASE_COMPLETED');
});

test("the source's migration NIC has an address in the wrong subnet only: refused before anything starts, saying what to fix", async () => {
  await labExec(SRC, ['ip', 'addr', 'add', WRONG_SUBNET, 'dev', 'eth1']);
  await labExec(SRC, ['ip', 'addr', 'del', `${labHost(SRC).migIp}/24`, 'dev', 'eth1']);
  const err = await refusal(migrateToLab2());
  assert.equal(err.kind, 'FAILED_PRECONDITION', err.message);
  assert.match(err.message, /198\.19\.0\.2/, 'names the destination address it cannot reach');
  assert.equal(await domainState(SRC, VM), 'running');
  assert.equal(await domainState(DST, VM), 'absent');
});
