// Ferry on the lab, as the engine (the root namespace) sees it: a typed
// client per host, ferryd control, and the facts tests check (firewall
// rules, listening sockets, domain states).
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { connectAgent, unary, type FerryClients } from '../../shared/client.js';
import { clientCredentialsFromFiles, type ClientTlsFiles } from '../../shared/credentials.js';
import type { MigrationProgress__Output } from '../../shared/generated/ferry/v1/MigrationProgress.js';
import type { WatchMigrationResponse__Output } from '../../shared/generated/ferry/v1/WatchMigrationResponse.js';
import { DEFAULT_PORT_RANGE } from '../../agent/firewall/firewall.js';
import { DEFAULT_PINHOLE_MARK } from '../../agent/firewall/nftables/script.js';
import { readFerryTable } from '../../agent/firewall/nftables/table-reader.js';
import { LAB_DIR, labExec, labHost, REPO_ROOT } from './lab.js';
import { HEALTH_PROTO, loadProtoClient, type HealthClient } from './proto-client.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { sleep, until } from './wait.js';
import { parseScrape, type Scrape } from './prometheus-text.js';
import { httpGet } from './scrape.js';

const run = promisify(execFile);
const open = new Map<string, FerryClients>();

/** The lab's engine credentials (scripts/lab up writes them; `scripts/lab status` shows where). */
export function engineTlsFiles(): ClientTlsFiles {
  const pki = join(LAB_DIR, 'pki');
  return { caFile: join(pki, 'ca.pem'), certFile: join(pki, 'engine.pem'), keyFile: join(pki, 'engine-key.pem') };
}

/** A lab host's own certificate (role peer), e.g. to call another host as that agent would. */
export function hostTlsFiles(host: string): ClientTlsFiles {
  const pki = join(LAB_DIR, 'pki');
  return { caFile: join(pki, 'ca.pem'), certFile: join(pki, 'hosts', `${host}.pem`), keyFile: join(pki, 'hosts', `${host}-key.pem`) };
}

let engine: grpc.ChannelCredentials | undefined;

/** The engine's client of a lab host's agent (198.18.0.N:54321), over mutual TLS. */
export function agent(host: string): FerryClients {
  let clients = open.get(host);
  if (!clients) {
    engine ??= clientCredentialsFromFiles(engineTlsFiles());
    clients = connectAgent(`${labHost(host).mgmtIp}:54321`, engine);
    open.set(host, clients);
  }
  return clients;
}

/** A client of a lab host's agent with other credentials (not cached: close it). */
export function agentAs(host: string, credentials: grpc.ChannelCredentials): FerryClients {
  return connectAgent(`${labHost(host).mgmtIp}:54321`, credentials);
}

export function closeAgents(): void {
  for (const c of open.values()) c.close();
  open.clear();
  engine = undefined; // a lab brought up again has a new CA
}

/** `scripts/lab ferryd start|stop|kill|restart HOST [NAME=VALUE...]`: env is added to the agent's environment for that run. */
export async function ferryd(action: 'start' | 'stop' | 'kill' | 'restart', host: string, env: Record<string, string> = {}): Promise<void> {
  const variables = Object.entries(env).map(([name, value]) => `${name}=${value}`);
  await run(`${REPO_ROOT}/scripts/lab`, ['ferryd', action, host, ...variables], { timeout: 60_000 });
  const cached = open.get(host);
  if (cached && action !== 'start') {
    cached.close();
    open.delete(host);
  }
}

/** Follows a job to its final phase and returns every progress message seen (each also to onProgress, as it comes). */
export function watchToEnd(
  host: string,
  jobId: string,
  onProgress?: (p: MigrationProgress__Output) => void,
): Promise<MigrationProgress__Output[]> {
  return new Promise((resolve, reject) => {
    const seen: MigrationProgress__Output[] = [];
    const stream = agent(host).migration.WatchMigration({ job: { jobId } });
    stream.on('data', ({ status }: WatchMigrationResponse__Output) => {
      if (!status) return;
      seen.push(status);
      onProgress?.(status);
    });
    stream.on('end', () => resolve(seen));
    stream.on('error', reject);
  });
}

export async function status(host: string, jobId: string): Promise<MigrationProgress__Output> {
  const { status } = await unary(agent(host).migration, 'GetMigrationStatus', { job: { jobId } });
  if (!status) throw new Error(`GetMigrationStatus ${jobId} on ${host} answered without a status`);
  return status;
}

/** Polls until check(status) holds; returns that status. */
export async function waitForStatus(
  host: string,
  jobId: string,
  check: (s: MigrationProgress__Output) => boolean,
  timeoutMs = 60_000,
): Promise<MigrationProgress__Output> {
  let last: MigrationProgress__Output | undefined;
  return until(
    `job ${jobId} on ${host} to meet its condition`,
    async () => {
      last = await status(host, jobId);
      return check(last) && last;
    },
    { timeoutMs, everyMs: 100, detail: () => `phase ${last?.phase}` },
  );
}

/**
 * The host's firewall as a comparable text: iptables-save without its
 * timestamped comment lines, then `nft list ruleset` without what changes by
 * itself (the time each set element has left, packet and byte counters).
 * Either backend's pinholes show in it.
 */
export async function firewallSnapshot(host: string): Promise<string> {
  const iptables = (await labExec(host, ['iptables-save'])).stdout.split('\n').filter((l) => !l.startsWith('#'));
  const nft = (await labExec(host, ['nft', 'list', 'ruleset'], { allowFail: true })).stdout
    .replace(/ expires \S+/g, '')
    .replace(/counter packets \d+ bytes \d+/g, 'counter');
  return [...iptables, '--- nft', nft].join('\n');
}

/**
 * Ferry's pinholes on a host, whichever backend holds them: the rules of the
 * iptables chain without the two fixed ones, and the elements of the nftables
 * sets (one per port), each as one line naming its pinhole, VM and job.
 */
export async function pinholeRules(host: string): Promise<string[]> {
  const iptables = (await labExec(host, ['iptables-save'])).stdout
    .split('\n')
    .filter((l) => l.startsWith('-A FERRY-MIGRATION') && l.includes('-j ACCEPT') && l.includes(' -s '));
  const table = await labExec(host, ['nft', '-j', 'list', 'table', 'inet', 'ferry'], { allowFail: true });
  const layout = { portRange: DEFAULT_PORT_RANGE, mark: DEFAULT_PINHOLE_MARK };
  const elements = readFerryTable(table.code === 0 ? table.stdout : undefined, layout).elements.map(
    (e) => `nft ${e.source} . ${e.destination} . ${e.port} ferry pinhole=${e.owner?.id} vm=${e.owner?.vmId} job=${e.owner?.jobId}`,
  );
  return [...iptables, ...elements];
}

/** One of Ferry's pinholes as the kernel holds it, whichever backend wrote it. */
export interface LabPinhole {
  source: string;
  destination: string;
  /** [migration port] or [migration port, disks port]. */
  ports: number[];
  /** What pinholeRules() lists for it (its pinhole, VM and job ids included), one line per rule or element. */
  text: string;
}

/**
 * Ferry's pinholes on a host, one per hole: an iptables rule (-s, -d,
 * --dport or --dports), or the nftables elements of one pinhole id (an
 * element per port), so that a test states what the hole admits, not how a
 * backend spells it.
 */
export async function pinholesOn(host: string): Promise<LabPinhole[]> {
  const holes = new Map<string, LabPinhole>();
  for (const line of await pinholeRules(host)) {
    const nft = /^nft (\S+) \. (\S+) \. (\d+) ferry pinhole=(\S+)/.exec(line);
    const ipt = /-s (\S+?)\/\d+ -d (\S+?)\/\d+ .*--dports? ([\d,]+)/.exec(line);
    if (nft) {
      const [, source = '', destination = '', port = '', id = ''] = nft;
      const hole = holes.get(id) ?? { source, destination, ports: [], text: '' };
      hole.ports.push(Number(port));
      hole.text = hole.text ? `${hole.text}\n${line}` : line;
      holes.set(id, hole);
    } else if (ipt) {
      const [, source = '', destination = '', ports = ''] = ipt;
      holes.set(line, { source, destination, ports: ports.split(',').map(Number), text: line });
    } else {
      throw new Error(`a pinhole line neither backend writes: ${line}`);
    }
  }
  return [...holes.values()];
}

/**
 * Ferry's pinhole rules once a job has ended: COMPLETED is reported before
 * the destination is told (FinishIncoming), so this waits up to a few
 * seconds for the rules to go, and returns what is left.
 */
export async function pinholeRulesAfterJob(host: string, waitMs = 5000): Promise<string[]> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const rules = await pinholeRules(host);
    if (rules.length === 0 || Date.now() > deadline) return rules;
    await sleep(50);
  }
}

/** "running", "shut off", … or "absent". */
export async function domainState(host: string, name: string): Promise<string> {
  const r = await labExec(host, ['virsh', '-c', 'qemu:///system', 'domstate', name], { allowFail: true });
  return r.code === 0 ? r.stdout.trim().split('\n')[0]!.trim() : 'absent';
}

/** TCP sockets with a local port, as "STATE LOCAL PEER" (e.g. "ESTAB 198.19.0.2:49152 198.19.0.1:40112"). */
export async function sockets(host: string, port: number): Promise<string[]> {
  const r = await labExec(host, ['ss', '-Htan', `sport = :${port}`]);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const f = l.trim().split(/\s+/);
      return `${f[0]} ${f[3]} ${f[4]}`;
    });
}

/** Tries a TCP connection from a host; resolves "connected", "refused" or "timeout". */
export async function tryConnect(fromHost: string, address: string, port: number): Promise<string> {
  const script =
    `const s=require('net').connect({host:${JSON.stringify(address)},port:${port}});` +
    `const t=setTimeout(()=>{console.log('timeout');process.exit(0)},3000);` +
    `s.on('connect',()=>{console.log('connected');s.destroy();clearTimeout(t)});` +
    `s.on('error',e=>{console.log(e.code==='ECONNREFUSED'?'refused':e.code);clearTimeout(t)});`;
  return (await labExec(fromHost, ['node', '-e', script])).stdout.trim();
}

/** Where the lab's ferryds serve their metrics (scripts/lab.d/ferryd.sh): the management address. */
export const LAB_METRICS_PORT = 9469;

/** One scrape of a lab host's ferryd metrics, parsed; also the page as served (for promtool). */
export async function scrapeMetrics(host: string): Promise<Scrape & { text: string }> {
  const answer = await httpGet(`http://${labHost(host).mgmtIp}:${LAB_METRICS_PORT}/metrics`);
  if (answer.status !== 200) throw new Error(`GET /metrics on ${host}: HTTP ${answer.status}: ${answer.body}`);
  return { ...parseScrape(answer.body), text: answer.body };
}

/**
 * Restarts these hosts' ferryds with extra environment: FERRY_… overrides of
 * ferryd.yaml (FERRY_METRICS_ENABLED=false) or OTEL_* for tracing, for that
 * run of each agent (`scripts/lab ferryd restart HOST NAME=VALUE…`); {}
 * restores the lab's own environment.
 */
export async function restartFerrydWith(hosts: readonly string[], env: Readonly<Record<string, string>>): Promise<void> {
  for (const host of hosts) await ferryd('restart', host, { ...env });
}

/** `scripts/lab libvirtd restart HOST`, then until the host's agent has libvirt back (its checks answer without libvirt failures). */
export async function restartLibvirtd(host: string): Promise<void> {
  await run(`${REPO_ROOT}/scripts/lab`, ['libvirtd', 'restart', host], { timeout: 180_000 });
  await until(
    `${host}'s ferryd reconnected to libvirt`,
    async () => (await unary(agent(host).host, 'GetCapabilities', {})).libvirtVersion !== '',
    { timeoutMs: 90_000, everyMs: 500 },
  );
}

/** What a lab agent's gRPC health service says of `service` ('' for the agent as a whole, 'ferry.migration'…). */
export async function healthOf(host: string, service: string): Promise<string> {
  engine ??= clientCredentialsFromFiles(engineTlsFiles());
  const client = loadProtoClient<HealthClient>(HEALTH_PROTO, 'grpc.health.v1.Health', `${labHost(host).mgmtIp}:54321`, engine);
  try {
    return await new Promise((resolve, reject) => client.Check({ service }, (err, res) => (err ? reject(err) : resolve(res.status))));
  } finally {
    client.close();
  }
}
