/**
 * A small process that lab tests run inside a lab host (labSpawn('lab3', ['node',
 * 'dist/test/support/firewall-driver.js'])) and drive over stdio: one JSON
 * command per stdin line, one JSON reply per stdout line, matched by `id`.
 * Commands run concurrently, so a test can fire 64 opens at once.
 *
 * The same driver plays every role a pinhole test needs:
 *  - the agent's firewall (create, reconcile, open, close, list, uninstall):
 *    a real process with real iptables, which a test can SIGKILL;
 *  - the destination QEMU (listen: echo servers on chosen ports), kept in a
 *    separate process so that killing the "agent" does not close them;
 *  - the source and the attacker (connect, echo, end).
 *
 * Safety: firewall commands refuse to run anywhere but inside a lab host.
 */
import { execFile } from 'node:child_process';
import { hostname } from 'node:os';
import { createServer, Socket, type Server } from 'node:net';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { createFirewall, type FirewallConfig } from '../../agent/firewall/index.js';
import type { AdoptablePinhole, Firewall } from '../../agent/firewall/firewall.js';
import type { PinholeRequest } from '../../agent/migration/index.js';
import { insideLabHost, insidePrivateNetns } from './inside-lab-host.js';

type Command = { id: number | string; op: string; [key: string]: unknown };

let firewall: (Firewall & { reservedPorts(): number[] }) | undefined;
const servers = new Map<number, Server>();
const accepted = new Set<Socket>();
const connections = new Map<number, Socket>();
let nextConn = 1;

function send(msg: object): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

function needFirewall(): Firewall & { reservedPorts(): number[] } {
  if (!firewall) throw new Error('no firewall: send {"op":"create"} first');
  return firewall;
}

const ops: Record<string, (c: Command) => Promise<unknown>> = {
  async create(c) {
    if (!insideLabHost() && !insidePrivateNetns()) {
      throw new Error(
        `refusing to manage the firewall of ${hostname()}: run me inside a lab host (labSpawn) or a private network namespace`,
      );
    }
    firewall?.dispose();
    firewall = createFirewall((c.config ?? {}) as FirewallConfig);
    return { backend: firewall.backend, hostname: hostname() };
  },
  reconcile: () => needFirewall().reconcile(),
  open: (c) => needFirewall().open(c.request as PinholeRequest),
  close: (c) => needFirewall().close(String(c.pinholeId)),
  list: async () => needFirewall().list(),
  reserved: async () => needFirewall().reservedPorts(),
  /** Take back holes a previous run opened (as ferryd does from its journal). */
  async adopt(c) {
    needFirewall().adopt(c.holes as AdoptablePinhole[]);
    return needFirewall().list();
  },
  uninstall: () => needFirewall().uninstall(),
  async dispose() {
    firewall?.dispose();
    return true;
  },
  /** The whole `nft -j list ruleset` of this host, for assertions. */
  async ruleset() {
    const { stdout } = await promisify(execFile)('nft', ['-j', 'list', 'ruleset']);
    return stdout;
  },
  /** What the host's firewall does to the pinholes (Firewall.hostWarnings). */
  hostWarnings: () => needFirewall().hostWarnings(),
  /** The whole iptables-save (or ip6tables-save) of this host, for assertions. */
  async save(c) {
    const bin = c.family === 'ipv6' ? 'ip6tables-save' : 'iptables-save';
    const { stdout } = await promisify(execFile)(bin);
    return stdout;
  },

  /** QEMU stand-in: echo servers on host:port for each port. */
  async listen(c) {
    const host = String(c.host);
    for (const port of c.ports as number[]) {
      const server = createServer((sock) => {
        accepted.add(sock);
        sock.on('close', () => accepted.delete(sock));
        sock.on('error', () => undefined);
        sock.pipe(sock);
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host, port }, () => resolve());
      });
      servers.set(port, server);
    }
    return [...servers.keys()];
  },
  /** Stop listening; connections already accepted stay up (as QEMU's would). */
  async unlisten(c) {
    const ports = (c.ports as number[] | undefined) ?? [...servers.keys()];
    for (const port of ports) {
      servers.get(port)?.close();
      servers.delete(port);
    }
    return [...servers.keys()];
  },

  /** Source / attacker: try one TCP connection and classify the outcome. */
  async connect(c) {
    const timeoutMs = Number(c.timeoutMs ?? 3000);
    const started = performance.now();
    const sock = new Socket();
    const outcome = await new Promise<{ outcome: string; code?: string }>((resolve) => {
      const timer = setTimeout(() => {
        sock.destroy();
        resolve({ outcome: 'timeout' });
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        resolve({ outcome: 'connected' });
      });
      sock.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve({ outcome: err.code === 'ECONNREFUSED' ? 'refused' : 'error', ...(err.code === undefined ? {} : { code: err.code }) });
      });
      sock.connect({ host: String(c.host), port: Number(c.port), ...(c.localAddress ? { localAddress: String(c.localAddress) } : {}) });
    });
    const elapsedMs = Math.round((performance.now() - started) * 10) / 10;
    if (outcome.outcome !== 'connected') return { ...outcome, elapsedMs };
    const connId = nextConn++;
    sock.on('error', () => undefined);
    connections.set(connId, sock);
    return { ...outcome, elapsedMs, connId };
  },
  /** Send data on a kept connection and wait for the echo. */
  async echo(c) {
    const sock = connections.get(Number(c.connId));
    if (!sock) throw new Error(`no connection ${String(c.connId)}`);
    const data = String(c.data);
    const timeoutMs = Number(c.timeoutMs ?? 3000);
    return new Promise((resolve, reject) => {
      let got = '';
      const timer = setTimeout(() => {
        sock.off('data', onData);
        reject(new Error(`no echo within ${timeoutMs} ms (got ${JSON.stringify(got)})`));
      }, timeoutMs);
      const onData = (chunk: Buffer) => {
        got += chunk.toString('utf8');
        if (got.length >= data.length) {
          clearTimeout(timer);
          sock.off('data', onData);
          resolve(got);
        }
      };
      sock.on('data', onData);
      sock.write(data);
    });
  },
  async end(c) {
    connections.get(Number(c.connId))?.destroy();
    return connections.delete(Number(c.connId));
  },
  async exit() {
    setImmediate(() => process.exit(0));
    return true;
  },
};

function errorReply(err: unknown): object {
  if (err && typeof err === 'object' && 'kind' in err) {
    const e = err as { kind: string; message: string; details?: object };
    return { kind: e.kind, message: e.message, details: e.details ?? {} };
  }
  return { kind: 'DRIVER', message: err instanceof Error ? err.message : String(err) };
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  let cmd: Command;
  try {
    cmd = JSON.parse(line) as Command;
  } catch {
    send({ id: null, ok: false, error: { kind: 'DRIVER', message: `bad JSON: ${line}` } });
    return;
  }
  const op = ops[cmd.op];
  if (!op) {
    send({ id: cmd.id, ok: false, error: { kind: 'DRIVER', message: `unknown op ${cmd.op}` } });
    return;
  }
  op(cmd).then(
    (result) => send({ id: cmd.id, ok: true, result: result ?? null }),
    (err) => send({ id: cmd.id, ok: false, error: errorReply(err) }),
  );
});
rl.on('close', () => {
  firewall?.dispose();
  process.exit(0);
});
send({ event: 'ready', pid: process.pid, hostname: hostname() });
