// scripts/install into a temporary root: a self-contained agent that starts
// and answers, a unit that `systemd-analyze verify` accepts, wrappers, the
// certificate tool, ferryctl's bash completion, the man pages and a config;
// running it again changes nothing and keeps the operator's config;
// --uninstall leaves the root empty.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { connectAgent, unary } from '../../shared/client.js';
import { isFerryError } from '../../shared/errors.js';
import { ensureLab, labHost } from '../support/lab.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const INSTALL = path.join(REPO, 'scripts/install');
const roots: string[] = [];

after(() => {
  for (const root of roots) fs.rmSync(root, { recursive: true, force: true });
});

function tempRoot(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-install-'));
  roots.push(root);
  return root;
}

/**
 * Real paths inside `root` (no DESTDIR): what is installed can run. They are
 * the default paths under `root`, i.e. also where DESTDIR=root puts things.
 */
function layout(root: string) {
  const dirs = {
    prefix: `${root}/opt/ferry`,
    bin: `${root}/usr/local/bin`,
    etc: `${root}/etc/ferry`,
    units: `${root}/etc/systemd/system`,
    completions: `${root}/usr/share/bash-completion/completions`,
    man: `${root}/usr/local/share/man`,
  };
  return {
    ...dirs,
    env: {
      ...process.env,
      FERRY_PREFIX: dirs.prefix,
      FERRY_BINDIR: dirs.bin,
      FERRY_SYSCONFDIR: dirs.etc,
      FERRY_UNITDIR: dirs.units,
      FERRY_COMPLETIONDIR: dirs.completions,
      FERRY_MANDIR: dirs.man,
    },
  };
}

/** docs/man's pages, each with where it belongs under a man directory (ferryctl.1 in man1/). */
function manPages(): Array<{ source: string; installed: string }> {
  const pages = fs.readdirSync(path.join(REPO, 'docs/man'));
  assert.ok(pages.includes('ferryctl.1') && pages.includes('ferryd.8'), `docs/man has ${pages.join(', ')}`);
  return pages.map((page) => ({ source: path.join(REPO, 'docs/man', page), installed: `man${path.extname(page).slice(1)}/${page}` }));
}

/** The installed tools besides the agent: ferry-pki, ferryctl's bash completion, the man pages. */
async function assertToolsInstalled(bin: string, completions: string, man: string): Promise<void> {
  assert.deepEqual(fs.readFileSync(`${bin}/ferry-pki`), fs.readFileSync(path.join(REPO, 'scripts/pki')));
  assert.equal(fs.statSync(`${bin}/ferry-pki`).mode & 0o777, 0o755);
  assert.match((await run(`${bin}/ferry-pki`, ['--help'])).stdout, /^ {2}ferry-pki libvirt /m);
  // What ferryctl prints, and bash takes it as ferryctl's completion.
  const completion = `${completions}/ferryctl`;
  const printed = await run('node', [path.join(REPO, 'dist/agent/cli/ferryctl.js'), 'completion', 'bash']);
  assert.equal(fs.readFileSync(completion, 'utf8').trim(), printed.stdout.trim());
  assert.equal(fs.statSync(completion).mode & 0o777, 0o644);
  const loaded = await run('bash', ['-c', 'source "$1" && complete -p ferryctl', 'bash', completion]);
  assert.match(loaded.stdout, / ferryctl$/m);
  for (const page of manPages())
    assert.deepEqual(fs.readFileSync(`${man}/${page.installed}`), fs.readFileSync(page.source), page.installed);
}

async function install(env: NodeJS.ProcessEnv, ...args: string[]): Promise<string> {
  const { stdout } = await run(INSTALL, ['--no-build', ...args], { env, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** Every path under root with its content hash (directories end with /). */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      const rel = path.relative(root, full);
      if (rel.includes('node_modules')) continue;
      if (entry.isDirectory()) {
        out.set(`${rel}/`, '');
        walk(full);
      } else out.set(rel, fs.readFileSync(full).toString('base64').slice(0, 64) + fs.statSync(full).size);
    }
  };
  walk(root);
  return out;
}

/**
 * Starts the installed ferryd, with the installed config, inside lab1 (it
 * needs a libvirtd to be ready) on a port of its own, with the firewall left
 * to lab1's own agent; resolves once it logs that it is ready.
 */
const INSTALLED_PORT = 54400;
async function startInstalled(bin: string, env: NodeJS.ProcessEnv, stateDirectory: string) {
  await ensureLab(1);
  const args = [
    `${bin}/ferryd`,
    '--listen',
    `${labHost('lab1').mgmtIp}:${INSTALLED_PORT}`,
    '--insecure',
    '--set',
    'firewall.backend=none',
    '--set',
    `state_directory=${stateDirectory}`,
  ];
  const child = spawn(path.join(REPO, 'scripts/lab'), ['exec', 'lab1', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ferryd did not start: ${output}`)), 15_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      // The gRPC port of the "ferryd ready" entry (the metrics endpoint logs a port too, earlier).
      const ready = output
        .split('\n')
        .slice(0, -1)
        .find((line) => line.includes('"ferryd ready"'));
      if (ready) {
        clearTimeout(timer);
        resolve(Number((JSON.parse(ready) as { port: unknown }).port));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`ferryd exited with ${code}: ${output}`)));
  });
  return { child, port };
}

test('install into a temporary root, run it, verify the unit, install again, uninstall', { timeout: 240_000 }, async () => {
  const root = tempRoot();
  const { prefix, bin, etc, units, completions, man, env } = layout(root);
  await install(env);

  for (const file of [
    `${prefix}/dist/agent/main.js`,
    `${prefix}/proto/ferry/v1/host.proto`,
    `${prefix}/node_modules/yaml/package.json`,
    `${prefix}/install-manifest`,
  ]) {
    assert.ok(fs.existsSync(file), file);
  }
  assert.ok(fs.existsSync(`${prefix}/node_modules/unix-dgram/build/Release/unix_dgram.node`), 'the native addon is built');
  assert.ok(!fs.existsSync(`${prefix}/node_modules/typescript`), 'no dev dependencies');
  assert.ok(!fs.existsSync(`${prefix}/dist/test`), 'no compiled tests');
  const ferryd = fs.readFileSync(`${bin}/ferryd`, 'utf8');
  assert.match(
    ferryd,
    new RegExp(`^exec /\\S+/node --enable-source-maps --single-threaded-gc ${prefix}/dist/agent/main\\.js "\\$@"$`, 'm'),
  );
  assert.match(ferryd, /^export MALLOC_MMAP_THRESHOLD_="\$\{MALLOC_MMAP_THRESHOLD_:-131072\}"$/m);
  assert.match(fs.readFileSync(`${bin}/ferryctl`, 'utf8'), new RegExp(`${prefix}/dist/agent/cli/ferryctl\\.js`));
  assert.equal(fs.statSync(`${bin}/ferryd`).mode & 0o777, 0o755);
  await assertToolsInstalled(bin, completions, man);
  assert.deepEqual(fs.readFileSync(`${etc}/ferryd.yaml`), fs.readFileSync(path.join(REPO, 'systemd/ferryd.example.yaml')));
  const unit = fs.readFileSync(`${units}/ferryd.service`, 'utf8');
  assert.match(unit, new RegExp(`^ExecStart=${bin}/ferryd --config ${etc}/ferryd\\.yaml$`, 'm'));

  // The unit as installed: systemd's own checker (ExecStart must exist).
  const verify = await run('systemd-analyze', ['verify', '--man=no', `${units}/ferryd.service`]).catch(
    (err: { stderr?: string; message: string }) => {
      assert.fail(`systemd-analyze verify: ${err.stderr ?? err.message}`);
    },
  );
  assert.equal(verify.stderr.trim(), '');

  // The installed agent runs from its own directory and answers on gRPC.
  // Its state (the job journal) is the host's data, not the installer's: kept apart from the install root.
  const state = tempRoot();
  const agent = await startInstalled(bin, { ...env, FERRY_CONFIG: `${etc}/ferryd.yaml` }, state);
  try {
    const clients = connectAgent(`${labHost('lab1').mgmtIp}:${agent.port}`, grpc.credentials.createInsecure());
    const answer = await unary(clients.host, 'GetCapabilities', {}, { timeoutMs: 5000 }).then(
      () => 'OK',
      (err: unknown) => (isFerryError(err) ? err.kind : String(err)),
    );
    clients.close();
    assert.equal(answer, 'OK', `the installed agent answered ${answer}`);
  } finally {
    agent.child.kill('SIGTERM');
  }
  assert.deepEqual(fs.readdirSync(state).sort(), ['incoming', 'jobs', 'maintenance', 'restores'], 'the agent made its journal directories');
  fs.rmSync(state, { recursive: true, force: true });

  // Again: the same files, and the operator's config is kept.
  fs.appendFileSync(`${etc}/ferryd.yaml`, '# edited by the operator\n');
  const before = snapshot(root);
  const second = await install(env);
  assert.match(second, /keeping .*ferryd\.yaml/);
  assert.deepEqual(snapshot(root), before);

  // Uninstall keeps only the edited config (and the directory it is in)…
  await install(env, '--uninstall');
  assert.deepEqual([...snapshot(root).keys()].sort(), ['etc/', 'etc/ferry/', 'etc/ferry/ferryd.yaml']);
  // …and once that is gone too, install + uninstall leave nothing at all.
  fs.rmSync(`${root}/etc`, { recursive: true });
  await install(env);
  await install(env, '--uninstall');
  assert.deepEqual(fs.readdirSync(root), []);
});

test('DESTDIR stages the same tree with the final paths inside the files, and uninstall empties it', { timeout: 240_000 }, async () => {
  const root = tempRoot();
  const env = { ...process.env, DESTDIR: root };
  await install(env);
  assert.match(
    fs.readFileSync(`${root}/etc/systemd/system/ferryd.service`, 'utf8'),
    /^ExecStart=\/usr\/local\/bin\/ferryd --config \/etc\/ferry\/ferryd\.yaml$/m,
  );
  assert.match(fs.readFileSync(`${root}/usr/local/bin/ferryd`, 'utf8'), / \/opt\/ferry\/dist\/agent\/main\.js /);
  assert.ok(fs.existsSync(`${root}/opt/ferry/dist/agent/main.js`));
  const staged = layout(root);
  await assertToolsInstalled(staged.bin, staged.completions, staged.man);
  await install(env, '--uninstall');
  assert.deepEqual(fs.readdirSync(root), []);
});

test('refuses what it cannot do safely', async () => {
  const root = tempRoot();
  await assert.rejects(install({ ...process.env, FERRY_PREFIX: 'relative/ferry' }), /must be absolute/);
  await assert.rejects(install({ ...process.env, FERRY_PREFIX: '/usr' }), /not a directory of its own/);
  await assert.rejects(install({ ...process.env, DESTDIR: root }, '--uninstall'), /nothing to uninstall/);
  await assert.rejects(install({ ...process.env, DESTDIR: root }, '--bogus'), /unknown option --bogus/);
  assert.deepEqual(fs.readdirSync(root), []);
});
