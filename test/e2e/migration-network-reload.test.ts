// Two items of the Migration Network test plan that change a host under a running agent
// (https://www.ovirt.org/develop/release-management/features/network/migration-network.html):
// the migration role moved to another network on the fly (a SIGHUP while a migration comes in
// keeps the one in force and says so; the next SIGHUP, once it ended, applies it), and a new
// migration address that the host's certificate does not list yet (the destination refuses the
// pinhole naming the address and the command that re-issues the certificate; once it is re-issued
// as printed, the same migration passes, with no restart).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unary } from '../../shared/client.js';
import { agent, closeAgents, domainState, waitForStatus, watchToEnd } from '../support/ferry.js';
import { createVm, destroyVm, ensureLab, LAB_DIR, LAB_SCRIPT, labExec, labHost } from '../support/lab.js';
import { refusal } from '../support/refusal.js';
import { until } from '../support/wait.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const VM = 'reload-guest';
/** A second migration subnet on lab1 and lab2's migration NIC (eth1). */
const NEW_NETWORK = '198.19.5.0/24';
/**
 * lab2's address there is new to its certificate: a different one each run, so that a run that
 * could not put the certificate back (killed) does not make the next one find it listed already.
 */
const LAB2_ADDRESS = `198.19.5.${100 + Math.floor(Math.random() * 150)}`;
const address = (host: 'lab1' | 'lab2') => (host === 'lab1' ? '198.19.5.1' : LAB2_ADDRESS);
let originalConfig = '';
/** lab2's certificate before the test re-issues it (the key stays: --keep-key), put back afterwards. */
const lab2Certificate = join(LAB_DIR, 'pki', 'hosts', 'lab2.pem');
let originalCertificate = '';

const configPath = (host: string) => join(LAB_DIR, host, 'ferryd.yaml');

async function sighup(host: string): Promise<void> {
  const pid = (await readFile(join(LAB_DIR, host, 'ferryd.pid'), 'utf8')).trim();
  process.kill(Number(pid), 'SIGHUP');
}

/** The lines of a host's ferryd log written since `from` (a byte offset). */
async function logSince(host: string, from: number): Promise<string> {
  return (await readFile(join(LAB_DIR, host, 'ferryd.log'))).subarray(from).toString('utf8');
}
async function logSize(host: string): Promise<number> {
  return (await readFile(join(LAB_DIR, host, 'ferryd.log'))).length;
}

async function migrationCidr(host: string): Promise<string | undefined> {
  return (await unary(agent(host).host, 'GetCapabilities', {})).migrationNetwork?.cidr;
}

before(async () => {
  await ensureLab(2);
  for (const host of ['lab1', 'lab2'] as const) await labExec(host, ['ip', 'addr', 'add', `${address(host)}/24`, 'dev', 'eth1']);
  originalConfig = await readFile(configPath('lab2'), 'utf8');
  originalCertificate = await readFile(lab2Certificate, 'utf8');
});

after(async () => {
  await writeFile(configPath('lab2'), originalConfig);
  // The certificate as it was (the same key: --keep-key).
  if (originalCertificate) await writeFile(lab2Certificate, originalCertificate);
  await sighup('lab2').catch(() => undefined);
  for (const host of ['lab1', 'lab2'] as const) {
    await labExec(host, ['ip', 'addr', 'del', `${address(host)}/24`, 'dev', 'eth1'], { allowFail: true });
    await destroyVm(host, VM).catch(() => undefined);
  }
  closeAgents();
});

test('migration.network changed by SIGHUP while a migration comes in: kept, said so; applied by the next SIGHUP once it ended', async () => {
  const { uuid } = await createVm('lab1', VM, { memMiB: 384, dirtyMbps: 20 });
  const { jobId } = await unary(agent('lab1').migration, 'Migrate', {
    vmId: uuid,
    dst: labHost('lab2').mgmtIp,
    dstqemu: labHost('lab2').migIp,
    policy: { maxBandwidthMibps: 8 },
  });
  await waitForStatus('lab1', jobId, (s) => s.phase === 'MIGRATION_PHASE_MIGRATING');
  await writeFile(configPath('lab2'), originalConfig.replace(/network: \S+/, `network: ${NEW_NETWORK}`));
  const from = await logSize('lab2');
  await sighup('lab2');
  await until(
    'the refusal in the log',
    async () => /migration\.network not changed while migrations run/.test(await logSince('lab2', from)),
    {
      timeoutMs: 10_000,
    },
  );
  assert.equal(await migrationCidr('lab2'), '198.19.0.0/24', 'the network in force is kept');

  await unary(agent('lab1').migration, 'CancelMigration', { job: { jobId } });
  assert.equal((await watchToEnd('lab1', jobId)).at(-1)?.phase, 'MIGRATION_PHASE_CANCELLED');
  await sighup('lab2');
  await until('the new network in force', async () => (await migrationCidr('lab2')) === NEW_NETWORK, { timeoutMs: 10_000 });
  const { migrationNetwork } = await unary(agent('lab2').host, 'GetCapabilities', {});
  assert.deepEqual([migrationNetwork?.interface, migrationNetwork?.address], ['eth1', address('lab2')]);
});

test("a migration address missing from the source's certificate: refused with the command that fixes it; run as printed, the migration passes", async () => {
  // The guest on lab2 now (the first test cancelled its migration: it is on lab1).
  await destroyVm('lab1', VM);
  const { uuid } = await createVm('lab2', VM);
  const migrate = () => unary(agent('lab2').migration, 'Migrate', { vmId: uuid, dst: labHost('lab1').mgmtIp, dstqemu: address('lab1') });
  const err = await refusal(migrate());
  assert.equal(err.kind, 'PERMISSION_DENIED', err.message);
  const command = /ferry-pki host CADIR lab2 (?:--\S+ \S+ )+--keep-key --install \/etc\/ferry\/pki/.exec(err.message)?.[0];
  assert.ok(command, err.message);
  assert.ok(command.includes(`--ip ${LAB2_ADDRESS} `), 'the missing address is added');
  assert.match(command, new RegExp(`--ip ${labHost('lab2').mgmtIp.replaceAll('.', '\\.')} `), 'the addresses it had are kept');
  assert.equal(await domainState('lab2', VM), 'running');

  // As printed, with the lab's CA directory for CADIR; the lab keeps host certificates in the CA
  // directory itself, where `pki host` writes them, so no --install.
  const args = command
    .replace('ferry-pki host CADIR', `host ${join(LAB_DIR, 'pki')}`)
    .replace(' --install /etc/ferry/pki', '')
    .split(' ');
  await run(join(LAB_SCRIPT, '..', 'pki'), args);
  await sighup('lab2');
  const { jobId } = await until(
    'lab2 presents its new certificate',
    async () => {
      try {
        return await migrate();
      } catch {
        return false;
      }
    },
    { timeoutMs: 15_000, everyMs: 1000 },
  );
  assert.equal((await watchToEnd('lab2', jobId)).at(-1)?.phase, 'MIGRATION_PHASE_COMPLETED');
  assert.equal(await domainState('lab1', VM), 'running');
});
