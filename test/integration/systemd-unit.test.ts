// systemd/ferryd.service as systemd's own checker reads it: `systemd-analyze
// verify` on a copy whose ExecStart= names an existing ferryd (the
// repository's, through a wrapper like the one scripts/install writes), with
// its Documentation=man:ferryd(8) looked up in a man tree that holds
// docs/man/ferryd.8, and refused without it (so the check is real). The unit
// reloads with SIGHUP to the main process and does not restart ferryd after
// exit status 2.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../support/lab.js';

const execFileP = promisify(execFile);
const UNIT = fs.readFileSync(path.join(REPO_ROOT, 'systemd/ferryd.service'), 'utf8');

let dir: string;
let unitFile: string;
let manTree: string;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-unit-'));
  const wrapper = path.join(dir, 'ferryd');
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec ${process.execPath} ${path.join(REPO_ROOT, 'dist/agent/main.js')} "$@"\n`, { mode: 0o755 });
  fs.mkdirSync(path.join(dir, 'units'));
  unitFile = path.join(dir, 'units', 'ferryd.service');
  fs.writeFileSync(unitFile, UNIT.replaceAll('/usr/local/bin/ferryd', wrapper));
  manTree = path.join(dir, 'man');
  fs.mkdirSync(path.join(manTree, 'man8'), { recursive: true });
  fs.copyFileSync(path.join(REPO_ROOT, 'docs/man/ferryd.8'), path.join(manTree, 'man8', 'ferryd.8'));
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function verify(env: NodeJS.ProcessEnv): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await execFileP('systemd-analyze', ['verify', unitFile], { env, timeout: 60_000 });
    return { ok: true, output: `${stdout}${stderr}` };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') assert.fail('systemd-analyze is missing (Debian package systemd)');
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? e.message}` };
  }
}

test('systemd-analyze verify: clean, with ferryd(8) found for Documentation=', async () => {
  const r = await verify({ ...process.env, MANPATH: manTree });
  assert.deepEqual(r, { ok: true, output: '' });
});

test('without the page, verify complains about man:ferryd(8): the Documentation= line is checked', async () => {
  const empty = path.join(dir, 'no-man');
  fs.mkdirSync(path.join(empty, 'man8'), { recursive: true });
  const r = await verify({ ...process.env, MANPATH: empty });
  assert.equal(r.ok, false);
  assert.match(r.output, /ferryd\(8\)/);
});

test('reload is SIGHUP to the main process; notify; exit status 2 is not restarted', () => {
  const lines = UNIT.split('\n');
  assert.ok(lines.includes('Type=notify'));
  assert.ok(lines.includes('ExecReload=/bin/kill -HUP $MAINPID'));
  assert.ok(lines.includes('RestartPreventExitStatus=2'));
  assert.ok(lines.some((l) => /^Documentation=.*\bman:ferryd\(8\)/.test(l)));
});
