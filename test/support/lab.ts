/**
 * Test support for Ferry's multi-host KVM lab (scripts/lab).
 *
 * The lab runs hosts lab1..labN as network namespaces, each with its own libvirtd
 * reachable from this (root) namespace over TCP on its management address
 * 198.18.0.N. The test process plays the engine. Everything here shells out to
 * scripts/lab or virsh; the lab's description is read from lab.json in the lab's
 * state directory ($FERRY_LAB_DIR, default /var/lib/ferry-lab).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface LabHost {
  name: string;
  index: number;
  mgmtIp: string;
  migIp: string;
  libvirtUri: string /* qemu+tcp://198.18.0.N/system */;
  libvirtTcp: { host: string; port: number };
  hostUuid: string;
}

/** lab.json as written by `scripts/lab up` (hosts carry a few extra fields). */
export interface LabState {
  stateDir: string;
  imagesDir: string;
  mgmtBridge: string;
  migBridge: string;
  engineIp: string;
  /** Whether this machine has /dev/kvm (what each host makes of it is in its own `kvm`). */
  kvm: boolean;
  hosts: Array<
    LabHost & {
      pid: number | null;
      dir: string;
      /** The host's libvirt offers domain type 'kvm' (else guests run under TCG, type 'qemu'). */
      kvm: boolean;
      /** `scripts/lab up --no-kvm` hid /dev/kvm from the host. */
      kvmHidden: boolean;
    }
  >;
}

/** Absolute path of the repository: the nearest ancestor holding scripts/lab. */
export const REPO_ROOT: string = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

export const LAB_DIR: string = process.env.FERRY_LAB_DIR ?? '/var/lib/ferry-lab';
export const LAB_SCRIPT: string = join(REPO_ROOT, 'scripts', 'lab');

function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'scripts', 'lab')) && existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find the repository root (scripts/lab) above ${start}`);
  }
}

interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

interface RunOptions {
  input?: string;
  timeoutMs?: number;
}

/** Runs a command to completion, collecting its output. Never rejects for a non-zero exit. */
function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, opts.timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) {
        reject(new Error(`${cmd} ${args.join(' ')}: timed out after ${opts.timeoutMs} ms\n${stderr}`));
        return;
      }
      resolve({ stdout, stderr, code: code ?? (signal ? 128 : 1) });
    });
    // The child may exit without reading stdin; that must not crash the test.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

function describeFailure(what: string, r: RunResult): Error {
  const detail = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-30).join('\n');
  return new Error(`${what} failed (exit ${r.code})${detail ? `:\n${detail}` : ''}`);
}

/** Reads lab.json. Throws if the lab has never been brought up. */
export function readLabState(): LabState {
  const path = join(LAB_DIR, 'lab.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new Error(`no lab described at ${path}: run scripts/lab up (or ensureLab())`);
  }
  return JSON.parse(text) as LabState;
}

function toLabHost(h: LabState['hosts'][number]): LabHost {
  return {
    name: h.name,
    index: h.index,
    mgmtIp: h.mgmtIp,
    migIp: h.migIp,
    libvirtUri: h.libvirtUri,
    libvirtTcp: { host: h.libvirtTcp.host, port: h.libvirtTcp.port },
    hostUuid: h.hostUuid,
  };
}

let ensuredHosts = 0;

/**
 * Brings the lab up with at least `hosts` hosts (`scripts/lab up --hosts N`,
 * idempotent) and returns all of its hosts, lab1 first. Throws with the script's
 * stderr if the lab cannot come up, so a test needing the lab fails.
 */
export async function ensureLab(hosts = 2): Promise<LabHost[]> {
  if (hosts > ensuredHosts) {
    const r = await run(LAB_SCRIPT, ['up', '--hosts', String(hosts)], { timeoutMs: 5 * 60_000 });
    if (r.code !== 0) throw describeFailure(`scripts/lab up --hosts ${hosts}`, r);
    ensuredHosts = hosts;
  }
  const all = readLabState()
    .hosts.map(toLabHost)
    .sort((a, b) => a.index - b.index);
  if (all.length < hosts) throw new Error(`lab has ${all.length} hosts, wanted ${hosts}`);
  return all;
}

/** A host from lab.json, by name ('lab2') or index (2). */
export function labHost(nameOrIndex: string | number): LabHost {
  const state = readLabState();
  const h = state.hosts.find((x) => x.name === nameOrIndex || x.index === nameOrIndex);
  if (!h) throw new Error(`no lab host ${String(nameOrIndex)} (hosts: ${state.hosts.map((x) => x.name).join(', ')})`);
  return toLabHost(h);
}

/** Whether this machine has /dev/kvm at all. */
export function machineHasKvm(): boolean {
  return readLabState().kvm;
}

/** What a lab host's libvirt says: guests run there under KVM (true) or TCG. */
export function labHostKvm(host: string): { kvm: boolean; hidden: boolean } {
  const h = readLabState().hosts.find((x) => x.name === host);
  if (!h) throw new Error(`no lab host ${host}`);
  return { kvm: h.kvm, hidden: h.kvmHidden };
}

/** "KVM" or "TCG": how a disk-less guest runs on that host (for benchmark labels). */
export function accelerator(host: string): 'KVM' | 'TCG' {
  return labHostKvm(host).kvm ? 'KVM' : 'TCG';
}

/**
 * Hides /dev/kvm from some hosts and shows it to the others (`scripts/lab up
 * --kvm --no-kvm=…`): a changed host's libvirtd and ferryd restart, its guests
 * keep running.
 */
export async function setLabKvmHidden(hosts: number, hidden: number[]): Promise<void> {
  const args = ['up', '--hosts', String(hosts), '--kvm'];
  if (hidden.length > 0) args.push(`--no-kvm=${hidden.join(',')}`);
  const r = await run(LAB_SCRIPT, args, { timeoutMs: 5 * 60_000 });
  if (r.code !== 0) throw describeFailure(`scripts/lab ${args.join(' ')}`, r);
  ensuredHosts = Math.max(ensuredHosts, hosts);
}

/** The migration network's link in every lab host (`scripts/lab up --mig-link --mig-mtu`; lab.d/mig-link.sh). */
export type MigrationLinkType = 'veth' | 'bridge' | 'vlan' | 'bond' | 'vxlan';

/**
 * Rebuilds every host's migration link as given; libvirtd keeps running, and ferryd restarts only
 * when its configuration changes (the routed layout gives each host its own migration subnet).
 */
export async function setLabMigrationLink(
  hosts: number,
  link: MigrationLinkType,
  mtu: number,
  layout: 'flat' | 'routed' = 'flat',
): Promise<void> {
  const args = ['up', '--hosts', String(hosts), '--mig-link', link, '--mig-mtu', String(mtu), `--mig-${layout}`];
  const r = await run(LAB_SCRIPT, args, { timeoutMs: 5 * 60_000 });
  if (r.code !== 0) throw describeFailure(`scripts/lab ${args.join(' ')}`, r);
  ensuredHosts = Math.max(ensuredHosts, hosts);
}

/** What `scripts/lab links` says: the link types this kernel can build, and the layout in use ("bridge 9000 flat"). */
export async function labLinks(): Promise<{ supported: Set<MigrationLinkType>; inUse: string }> {
  const r = await run(LAB_SCRIPT, ['links'], { timeoutMs: 60_000 });
  if (r.code !== 0) throw describeFailure('scripts/lab links', r);
  return {
    supported: new Set([...r.stdout.matchAll(/^(\w+)\s+supported$/gm)].map((m) => m[1] as MigrationLinkType)),
    inUse: /^in use: (.*)$/m.exec(r.stdout)?.[1] ?? '',
  };
}

/**
 * Runs argv inside a lab host (its network, mount and UTS namespaces) through
 * `scripts/lab exec`. Rejects on a non-zero exit unless allowFail.
 */
export async function labExec(
  host: string,
  argv: string[],
  opts: { input?: string; timeoutMs?: number; allowFail?: boolean } = {},
): Promise<{ stdout: string; stderr: string; code: number }> {
  const runOpts: RunOptions = { timeoutMs: opts.timeoutMs ?? 60_000 };
  if (opts.input !== undefined) runOpts.input = opts.input;
  const r = await run(LAB_SCRIPT, ['exec', host, ...argv], runOpts);
  if (r.code !== 0 && !opts.allowFail) throw describeFailure(`lab exec ${host} ${argv.join(' ')}`, r);
  return r;
}

/** Starts argv inside a lab host and returns the child (e.g. a long-running server). */
export function labSpawn(host: string, argv: string[], opts: SpawnOptions = {}): ChildProcess {
  return spawn(LAB_SCRIPT, ['exec', host, ...argv], opts);
}

/**
 * Defines and starts a guest on a host. dirtyMbps 0 (default): a disk-less KVM
 * guest (256 MiB). dirtyMbps > 0: a Linux TCG guest (512 MiB) dirtying that many
 * MiB/s; its console shows "ferry-dirtier: started" once running. diskMiB: a
 * local qcow2 disk that a migration must copy (copy_storage).
 */
export async function createVm(
  host: string,
  name: string,
  opts: { memMiB?: number; dirtyMbps?: number; diskMiB?: number } = {},
): Promise<{ name: string; uuid: string }> {
  const args = ['vm', 'create', host, name];
  if (opts.memMiB !== undefined) args.push('--mem', String(opts.memMiB));
  if (opts.dirtyMbps !== undefined) args.push('--dirty-mbps', String(opts.dirtyMbps));
  // A local qcow2 (vda) at /var/lib/libvirt/images/NAME.qcow2, the host's own file; half of it holds 0x5a.
  if (opts.diskMiB !== undefined) args.push('--disk', String(opts.diskMiB));
  // The first dirtying guest fetches a kernel and builds the initramfs.
  const r = await run(LAB_SCRIPT, args, { timeoutMs: 5 * 60_000 });
  if (r.code !== 0) throw describeFailure(`lab vm create ${host} ${name}`, r);
  const uuid = r.stdout.trim().split('\n').pop() ?? '';
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(uuid)) {
    throw new Error(`lab vm create ${host} ${name}: unexpected output ${JSON.stringify(r.stdout)}`);
  }
  return { name, uuid };
}

/**
 * Destroys and undefines a guest: on `host` first, then on every other lab host
 * (a migrated guest lives on the destination, its definition may stay on the
 * source). No error if it exists nowhere.
 */
export async function destroyVm(host: string, name: string): Promise<void> {
  let names: string[];
  try {
    names = readLabState().hosts.map((h) => h.name);
  } catch {
    return; // no lab, so no guest
  }
  const order = [host, ...names.filter((n) => n !== host)];
  for (const h of order) {
    if (!names.includes(h)) continue;
    const r = await run(LAB_SCRIPT, ['vm', 'destroy', h, name], { timeoutMs: 60_000 });
    if (r.code !== 0) throw describeFailure(`lab vm destroy ${h} ${name}`, r);
  }
}

/** virsh -c <host's libvirtUri> ARGS… from the root namespace; resolves to stdout. */
export async function virsh(host: string, ...args: string[]): Promise<string> {
  const r = await run('virsh', ['-q', '-c', labHost(host).libvirtUri, ...args], { timeoutMs: 120_000 });
  if (r.code !== 0) throw describeFailure(`virsh -c ${labHost(host).libvirtUri} ${args.join(' ')}`, r);
  return r.stdout;
}

/** Path (in this namespace) of a guest's serial console log on a host. */
export function consoleLogPath(host: string, name: string): string {
  const h = readLabState().hosts.find((x) => x.name === host);
  if (!h) throw new Error(`no lab host ${host}`);
  return join(h.dir, 'log', 'qemu', `${name}.console.log`);
}

/** The guest's serial console output so far on a host ('' if none yet). */
export async function readConsole(host: string, name: string): Promise<string> {
  try {
    return await readFile(consoleLogPath(host, name), 'utf8');
  } catch {
    return '';
  }
}
