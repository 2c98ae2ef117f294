// The README's "Install on a hypervisor" steps, run as they are written on a
// lab host, start ferryd with no path options: its TLS files are where
// `ferry-pki … --install /etc/ferry/pki` puts them, ferryd's defaults, and
// ferryctl finds its own there too.
//
// The steps run in a fresh host's view of the file system (support/fresh-host.ts):
// the first block (scripts/install) from this machine, because npm needs the
// registry and lab hosts have no route out; the second block (certificates,
// configuration, start) inside lab1, which has the libvirtd ferryd needs.
// Lab hosts have no systemd: a `systemctl` test double starts the installed
// unit's ExecStart= as systemd does for Type=notify (detached, NOTIFY_SOCKET,
// StateDirectory=) and returns on READY=1, which this test receives.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { UnixDgramSocket } from 'unix-dgram';
import { connectAgent, unary } from '../../shared/client.js';
import { clientCredentialsFromFiles } from '../../shared/credentials.js';
import { engineTlsFiles, ferryd } from '../support/ferry.js';
import { FreshHost } from '../support/fresh-host.js';
import { ensureLab, labExec, labHost, REPO_ROOT } from '../support/lab.js';
import { refusal } from '../support/refusal.js';
import { sleep } from '../support/wait.js';

const require = createRequire(import.meta.url);
const { createSocket } = require('unix-dgram') as typeof import('unix-dgram');
const run = promisify(execFile);

const HOST = 'lab1';
const HOST_VARIABLES = /^NAME=\S+ MGMT_IP=\S+ MIG_IP=\S+ MIG_NET=\S+$/;
/** Anything that would name a TLS file instead of ferryd's and ferryctl's defaults. */
const PATH_OPTIONS = /ca_file|cert_file|key_file|--ca\b|--cert\b|--key\b|FERRY_CA|FERRY_CERT|FERRY_KEY|--set\b|--insecure/;

let view: FreshHost;
let notifications: UnixDgramSocket | undefined;
let labAgentStopped = false;

/** The ```sh blocks of the README's "Install on a hypervisor" section, in order. */
function readmeInstallBlocks(): string[] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Install on a hypervisor\n');
  assert.ok(start >= 0, 'README.md has a section "## Install on a hypervisor"');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '');
}

/** systemd's part in the steps (see the header); anything else it is asked fails the step. */
function systemctlDouble(dir: string): string {
  return `#!/bin/bash
# systemctl for a lab host without systemd (test/e2e/install-readme.test.ts).
set -euo pipefail
case "$*" in
  "enable --now ferryd" | "enable --now ferryd.service") ;;
  *) echo "systemctl (test double): '$*' is not a step this test knows" >&2; exit 1 ;;
esac
unit=/etc/systemd/system/ferryd.service
read -ra argv <<<"$(sed -n 's/^ExecStart=//p' "$unit" | head -n 1)"
state=$(sed -n 's/^StateDirectory=//p' "$unit" | head -n 1)
if [[ -n $state ]]; then mkdir -p -m 0700 "/var/lib/$state"; fi
NOTIFY_SOCKET='${dir}/notify.sock' setsid "\${argv[@]}" </dev/null >>'${dir}/ferryd.log' 2>&1 &
echo $! >'${dir}/ferryd.pid'
for ((i = 0; i < 900; i++)); do
  if grep -qx 'READY=1' '${dir}/notify.log' 2>/dev/null; then exit 0; fi
  if ! kill -0 $! 2>/dev/null; then
    echo "ferryd exited before READY=1:" >&2; tail -n 30 '${dir}/ferryd.log' >&2; exit 1
  fi
  sleep 0.1
done
echo "ferryd sent no READY=1 within 90 s" >&2
exit 1
`;
}

/** The README's own ferryd, started by the systemctl double (its PID), if it ran. */
function readmeAgentPid(): number | undefined {
  const file = join(view.dir, 'ferryd.pid');
  return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function tail(text: string, lines = 40): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

before(async () => {
  await ensureLab(1);
  view = new FreshHost();
  writeFileSync(join(view.shimDir, 'systemctl'), systemctlDouble(view.dir), { mode: 0o755 });
  const notifyLog = join(view.dir, 'notify.log');
  notifications = createSocket('unix_dgram', (msg: Buffer) => appendFileSync(notifyLog, `${msg.toString()}\n`));
  notifications.bind(join(view.dir, 'notify.sock'));
});

after(async () => {
  notifications?.close();
  const pid = view ? readmeAgentPid() : undefined;
  if (pid && alive(pid)) {
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 150 && alive(pid); i++) await sleep(100);
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  if (labAgentStopped) await ferryd('start', HOST);
  view?.dispose();
});

test('the README gives two blocks: the install, then certificates, configuration and start for one host', () => {
  const blocks = readmeInstallBlocks();
  assert.equal(blocks.length, 2, `blocks: ${JSON.stringify(blocks)}`);
  assert.match(blocks[0] ?? '', /^scripts\/install$/m);
  assert.match((blocks[1] ?? '').split('\n')[0] ?? '', HOST_VARIABLES);
  assert.doesNotMatch(blocks[1] ?? '', PATH_OPTIONS, 'the steps name no TLS file: the defaults must do');
});

test("the README's first block installs Ferry (run from this machine: npm needs the registry)", { timeout: 540_000 }, async () => {
  const [install] = readmeInstallBlocks();
  assert.ok(install);
  const [command, ...args] = view.commandFor('install.sh', install);
  const result = await run(command, args, { timeout: 500_000, maxBuffer: 64 * 1024 * 1024 }).catch(
    (err: { code?: number; stdout?: string; stderr?: string }) => {
      assert.fail(`the install block failed (exit ${err.code}):\n${tail(`${err.stdout ?? ''}\n${err.stderr ?? ''}`)}`);
    },
  );
  assert.match(result.stdout, /installed Ferry/);
  for (const file of [
    '/usr/local/bin/ferryd',
    '/usr/local/bin/ferryctl',
    '/usr/local/bin/ferry-pki',
    '/etc/systemd/system/ferryd.service',
  ]) {
    assert.ok(existsSync(view.path(file)), `${file} is installed`);
  }
});

test("the README's second block, on a lab host, starts ferryd with no path options", { timeout: 300_000 }, async () => {
  const steps = readmeInstallBlocks()[1];
  assert.ok(steps);
  assert.ok(existsSync(view.path('/etc/systemd/system/ferryd.service')), 'the first block installed the unit');
  const lab = labHost(HOST);
  const migNet = `${lab.migIp.replace(/\.\d+$/, '.0')}/24`;
  const [, ...rest] = steps.split('\n');
  const forThisHost = [`NAME=${HOST} MGMT_IP=${lab.mgmtIp} MIG_IP=${lab.migIp} MIG_NET=${migNet}`, ...rest].join('\n');

  // The lab's own agent listens on the port the README's will.
  await ferryd('stop', HOST);
  labAgentStopped = true;
  const result = await labExec(HOST, view.commandFor('host.sh', forThisHost), { timeoutMs: 240_000, allowFail: true });
  const ferrydLog = () => (existsSync(join(view.dir, 'ferryd.log')) ? tail(readFileSync(join(view.dir, 'ferryd.log'), 'utf8')) : '(none)');
  assert.equal(result.code, 0, `the steps failed:\n${tail(result.stderr)}\nferryd's log:\n${ferrydLog()}`);

  // Started as the unit says, with nothing but its configuration file.
  const unit = readFileSync(view.path('/etc/systemd/system/ferryd.service'), 'utf8');
  const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1]?.trim().split(/\s+/) ?? [];
  assert.deepEqual(
    execStart.slice(1).filter((arg) => arg !== '--config' && arg !== '/etc/ferry/ferryd.yaml'),
    [],
    unit,
  );
  assert.doesNotMatch(readFileSync(view.path('/etc/ferry/ferryd.yaml'), 'utf8'), /^\s*(tls|ca_file|cert_file|key_file)\s*:/m);
  assert.match(readFileSync(join(view.dir, 'notify.log'), 'utf8'), /^READY=1$/m);
  const pid = readmeAgentPid();
  assert.ok(pid && alive(pid), "the README's ferryd runs");

  // It serves the certificate the README issued: the README's CA verifies it, the lab's does not.
  const pki = (file: string) => view.path(`/etc/ferry/pki/${file}`);
  const clients = connectAgent(
    `${lab.mgmtIp}:54321`,
    clientCredentialsFromFiles({ caFile: pki('ca.pem'), certFile: pki('engine.pem'), keyFile: pki('engine-key.pem') }),
  );
  try {
    const caps = await unary(clients.host, 'GetCapabilities', {}, { timeoutMs: 10_000 });
    assert.equal(caps.hostname, HOST);
    assert.equal(caps.insecure, false);
    assert.equal(caps.migrationNetwork?.address, lab.migIp);
  } finally {
    clients.close();
  }
  const labCa = connectAgent(`${lab.mgmtIp}:54321`, clientCredentialsFromFiles(engineTlsFiles()));
  try {
    assert.equal((await refusal(unary(labCa.host, 'GetCapabilities', {}, { timeoutMs: 10_000 }))).kind, 'UNAVAILABLE');
  } finally {
    labCa.close();
  }

  // `ferry-pki libvirt` gave libvirt and QEMU the same certificate.
  assert.deepEqual(readFileSync(view.path('/etc/pki/CA/cacert.pem')), readFileSync(pki('ca.pem')));
  assert.deepEqual(readFileSync(view.path('/etc/pki/libvirt/servercert.pem')), readFileSync(pki('ferryd.pem')));
  assert.deepEqual(readFileSync(view.path('/etc/pki/qemu/server-key.pem')), readFileSync(pki('ferryd-key.pem')));
  assert.equal(statSync(view.path('/etc/pki/libvirt/private/serverkey.pem')).mode & 0o777, 0o600);
});
