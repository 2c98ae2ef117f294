// Migration and display network (oVirt's Migration Network test plan: "live
// migrate VMs with open consoles, consoles displaying correctly"). The lab's
// management network doubles as the display network: lab1 and lab2 run with
// display.network 198.18.0.0/24 (FERRY_DISPLAY_NETWORK, for this file only),
// lab3 without one. A guest whose VNC console listens on lab1's own address
// (198.18.0.1) migrates to lab2 and answers RFB (RFC 6143) on lab2's display
// address afterwards, its live and persistent definitions there naming it,
// and comes back the same way. The same guest to lab3 is refused up
// front (FAILED_PRECONDITION naming the address and display.network) and keeps
// running on lab1, its console still answering there.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { unary } from '../../shared/client.js';
import { isFerryError } from '../../shared/errors.js';
import type { MigrateRequest } from '../../shared/generated/ferry/v1/MigrateRequest.js';
import { startCustomGuest } from '../support/custom-guest.js';
import { agent, closeAgents, domainState, restartFerrydWith, watchToEnd } from '../support/ferry.js';
import { destroyVm, ensureLab, labHost, virsh } from '../support/lab.js';
import { refusal } from '../support/refusal.js';
import { rfbGreeting } from '../support/rfb.js';

const DISPLAY_NETWORK = '198.18.0.0/24';
const WITH_DISPLAY = ['lab1', 'lab2'];
const WITHOUT_DISPLAY = 'lab3';
const GUEST = 'disp-vnc';

before(async () => {
  await ensureLab(3);
  await restartFerrydWith(WITH_DISPLAY, { FERRY_DISPLAY_NETWORK: DISPLAY_NETWORK });
});

after(async () => {
  await destroyVm('lab1', GUEST);
  // Their normal configuration again (no display network), as the next test file expects.
  await restartFerrydWith(WITH_DISPLAY, {});
  closeAgents();
});

function request(vmId: string, dst: string): MigrateRequest {
  return { vmId, dst: labHost(dst).mgmtIp, dstqemu: labHost(dst).migIp };
}

/** Where the guest's VNC console listens on `host` as libvirt reports it (live, or the persistent definition). */
async function vncOf(host: string, inactive = false): Promise<{ listen: string; port: number; listenChild: string }> {
  const xml = await virsh(host, 'dumpxml', ...(inactive ? ['--inactive'] : []), GUEST);
  const graphics = /<graphics type='vnc'([^>]*)>([\s\S]*?)<\/graphics>/.exec(xml);
  assert.ok(graphics, `no VNC console in ${GUEST}'s definition on ${host}:\n${xml}`);
  const attribute = (text: string, name: string) => new RegExp(`${name}='([^']*)'`).exec(text)?.[1] ?? '';
  return {
    listen: attribute(graphics[1]!, 'listen'),
    port: Number(attribute(graphics[1]!, 'port')),
    listenChild: attribute(/<listen type='address'[^>]*>/.exec(graphics[2]!)?.[0] ?? '', 'address'),
  };
}

/** The console answers RFB on `address` and is this guest's, with a framebuffer. */
async function consoleAnswers(address: string, port: number): Promise<void> {
  const greeting = await rfbGreeting(address, port);
  assert.match(greeting.version, /^RFB 003\.00\d$/);
  assert.ok(greeting.server, `the console on ${address}:${port} asked for a password`);
  assert.equal(greeting.server.name, `QEMU (${GUEST})`, "QEMU's desktop name is the guest's");
  assert.ok(greeting.server.width > 0 && greeting.server.height > 0, JSON.stringify(greeting.server));
}

async function migrate(vmId: string, from: string, to: string): Promise<void> {
  const accepted = await unary(agent(from).migration, 'Migrate', request(vmId, to));
  const final = (await watchToEnd(from, accepted.jobId)).at(-1);
  assert.equal(final?.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final?.error));
}

let uuid = '';

test("a guest with its VNC console on lab1's own address: RFB answers there", async () => {
  uuid = await startCustomGuest('lab1', GUEST, {
    devices: `<graphics type='vnc' port='-1' autoport='yes' listen='198.18.0.1'><listen type='address' address='198.18.0.1'/></graphics>`,
    video: "<video><model type='vga'/></video>",
  });
  const vnc = await vncOf('lab1');
  assert.deepEqual([vnc.listen, vnc.listenChild], ['198.18.0.1', '198.18.0.1']);
  await consoleAnswers('198.18.0.1', vnc.port);
});

test('lab1 → lab3 (no display network): refused up front naming the address and display.network; the guest and its console stay on lab1', async () => {
  const check = await unary(agent('lab1').migration, 'CheckMigration', { migration: request(uuid, WITHOUT_DISPLAY) });
  assert.equal(check.ok, false);
  assert.deepEqual(
    check.blocking.map((f) => `${f.side} ${f.reason}`),
    ['MIGRATION_CHECK_SIDE_DESTINATION MIGRATION_CHECK_REASON_GRAPHICS_LISTEN_ADDRESS'],
  );
  const refused = await refusal(unary(agent('lab1').migration, 'Migrate', request(uuid, WITHOUT_DISPLAY)));
  assert.ok(isFerryError(refused, 'FAILED_PRECONDITION'), String(refused));
  assert.equal(refused.reason, 'MIGRATION_CHECK_FAILED');
  assert.match(refused.message, /VNC on 198\.18\.0\.1/);
  assert.match(refused.message, /set display\.network on the destination/);
  assert.equal(await domainState('lab1', GUEST), 'running');
  assert.equal(await domainState(WITHOUT_DISPLAY, GUEST), 'absent');
  const jobs = await unary(agent('lab1').migration, 'ListMigrations', { vmId: uuid, pageSize: 50 });
  assert.deepEqual(jobs.jobs, [], 'no job was created');
  await consoleAnswers('198.18.0.1', (await vncOf('lab1')).port);
});

test("lab1 → lab2: the console moves to lab2's display address, live and persistent, and answers RFB there, no longer on lab1", async () => {
  const before = await vncOf('lab1');
  const check = await unary(agent('lab1').migration, 'CheckMigration', { migration: request(uuid, 'lab2') });
  assert.deepEqual(check.blocking, []);
  await migrate(uuid, 'lab1', 'lab2');
  assert.equal(await domainState('lab2', GUEST), 'running');
  const live = await vncOf('lab2');
  assert.deepEqual([live.listen, live.listenChild], ['198.18.0.2', '198.18.0.2'], 'live definition on lab2');
  const persistent = await vncOf('lab2', true);
  assert.deepEqual([persistent.listen, persistent.listenChild], ['198.18.0.2', '198.18.0.2'], 'persistent definition on lab2');
  await consoleAnswers('198.18.0.2', live.port);
  await assert.rejects(rfbGreeting('198.18.0.1', before.port, 3000), 'nothing listens on lab1 any more');
});

test("lab2 → lab1: back on lab1's display address", async () => {
  await migrate(uuid, 'lab2', 'lab1');
  const back = await vncOf('lab1');
  assert.deepEqual([back.listen, back.listenChild], ['198.18.0.1', '198.18.0.1']);
  await consoleAnswers('198.18.0.1', back.port);
});
