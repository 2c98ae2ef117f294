// One end of a transfer in a process of its own, as an agent would be, for the throughput test
// (test/integration/transfer-throughput.test.ts): `node transfer-endpoint.js '<json>'` where the
// JSON is a Role. It prints one JSON line per event ({ listening: port }, then its result with
// its peak RSS from process.resourceUsage(), the CPU time it used and how long its main thread was
// busy, from the start of the transfer) and exits. The raw roles move the same data bytes over
// plain TCP, for the ratio.
import { readFileSync } from 'node:fs';
import { createServer, connect as netConnect, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { receiveVolumes, sendVolumes, type TransferTls } from '../../agent/transfer/index.js';
import { dataAt, layoutSize, volumeSource, type Extent, LIBVIRT_CHUNK } from './transfer-volumes.js';

interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export type Role =
  | { role: 'receive'; address: string; sourceAddress: string; token: string; tls: TlsFiles; layout: Extent[] }
  | { role: 'send'; address: string; port: number; localAddress: string; token: string; tls: TlsFiles; layout: Extent[] }
  | { role: 'raw-receive'; address: string; bytes: number }
  | { role: 'raw-send'; address: string; port: number; bytes: number };

export interface EndpointResult {
  elapsedMs: number;
  /** Peak resident set of this process, in bytes. */
  maxRss: number;
  /** CPU time of the whole process (every thread, user + system) since the transfer started. */
  cpuMs: number;
  /**
   * CPU time of the main thread alone since the transfer started: the part of the work that cannot
   * spread over cores, so bytes / this is what one connection could reach with the other threads
   * on cores of their own. (Not the event loop's utilisation: that counts the time the thread
   * waited for a core as busy, and the two ends share this machine's.)
   */
  mainThreadCpuMs: number;
  sha256?: string;
}

function say(line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function tlsOf(files: TlsFiles): TransferTls {
  return { ca: readFileSync(files.caFile), cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
}

/** Where the cost counters stood when the transfer started. */
interface Start {
  at: number;
  cpu: NodeJS.CpuUsage;
  mainThreadCpuMs: number;
}

function started(): Start {
  return { at: performance.now(), cpu: process.cpuUsage(), mainThreadCpuMs: mainThreadCpuMs() };
}

/** Linux's count for the main thread (its task id is the pid): utime and stime, in clock ticks of 10 ms (getconf CLK_TCK). */
function mainThreadCpuMs(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is proc(5)'s field 3, state
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Elapsed time, peak RSS, CPU and main-thread time since `start`. */
function costSince(start: Start): EndpointResult {
  const cpu = process.cpuUsage(start.cpu);
  return {
    elapsedMs: performance.now() - start.at,
    maxRss: process.resourceUsage().maxRSS * 1024,
    cpuMs: (cpu.user + cpu.system) / 1000,
    mainThreadCpuMs: mainThreadCpuMs() - start.mainThreadCpuMs,
  };
}

/** Takes everything and keeps nothing: the channel is measured, not a disk. */
function discard(): Writable {
  return new Writable({ objectMode: true, highWaterMark: 16, write: (_chunk, _enc, callback) => callback() });
}

async function run(role: Role): Promise<void> {
  switch (role.role) {
    case 'receive': {
      const incoming = await receiveVolumes({
        address: role.address,
        port: 0,
        source: { address: role.sourceAddress },
        token: Buffer.from(role.token, 'hex'),
        tls: tlsOf(role.tls),
        volumes: [{ id: 'vda', size: layoutSize(role.layout) }],
        openSink: discard,
        arrivalTimeoutMs: 30_000,
      });
      say({ listening: incoming.port });
      const start = started();
      const [volume] = await incoming.done;
      say(volumeResult(start, volume));
      return;
    }
    case 'send': {
      const start = started();
      const [volume] = await sendVolumes({
        address: role.address,
        port: role.port,
        localAddress: role.localAddress,
        token: Buffer.from(role.token, 'hex'),
        tls: tlsOf(role.tls),
        volumes: [{ id: 'vda', size: layoutSize(role.layout), open: () => volumeSource(role.layout) }],
      });
      say(volumeResult(start, volume));
      return;
    }
    case 'raw-receive': {
      const server = createServer((socket) => {
        let got = 0;
        const start = started();
        socket.on('data', (chunk: Buffer) => {
          got += chunk.length;
          if (got >= role.bytes) {
            say(costSince(start));
            socket.end();
            server.close();
          }
        });
      });
      server.listen(0, role.address, () => say({ listening: (server.address() as AddressInfo).port }));
      return;
    }
    case 'raw-send': {
      const start = started();
      const socket = netConnect({ host: role.address, port: role.port });
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      // The same chunks as the transfer's source, made the same way, written with back-pressure.
      for (let offset = 0; offset < role.bytes; offset += LIBVIRT_CHUNK) {
        if (!socket.write(dataAt(offset, Math.min(LIBVIRT_CHUNK, role.bytes - offset)))) {
          await new Promise<void>((resolve) => socket.once('drain', () => resolve()));
        }
      }
      socket.end();
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
      say(costSince(start));
      return;
    }
  }
}

run(JSON.parse(process.argv[2] ?? '{}') as Role).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

/** What an end reports once its volume is through: time, peak RSS and the checksum it computed. */
function volumeResult(start: Start, volume: { sha256: Buffer } | undefined): EndpointResult {
  return { ...costSince(start), sha256: volume?.sha256.toString('hex') ?? '' };
}
