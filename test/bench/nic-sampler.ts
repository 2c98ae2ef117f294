// Samples a lab host's NIC byte counter from inside the host (its network
// namespace), every few ms, with wall-clock timestamps: the bytes really on
// the wire, which a throughput benchmark divides by the time they took.
import type { ChildProcess } from 'node:child_process';
import { labSpawn } from '../support/lab.js';

export interface CounterSample {
  at: number;
  bytes: number;
}

export interface NicSampler {
  samples: CounterSample[];
  stop(): Promise<void>;
}

/** Starts sampling /sys/class/net/NIC/statistics/COUNTER (tx_bytes, rx_bytes) on `host`. */
export function sampleNic(host: string, nic: string, counter = 'tx_bytes', everyMs = 100): Promise<NicSampler> {
  const file = `/sys/class/net/${nic}/statistics/${counter}`;
  const script =
    `const fs=require('fs');const f=${JSON.stringify(file)};` +
    `const s=()=>process.stdout.write(Date.now()+' '+fs.readFileSync(f,'utf8').trim()+'\\n');s();setInterval(s,${everyMs});`;
  const child: ChildProcess = labSpawn(host, ['node', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const samples: CounterSample[] = [];
  let rest = '';
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        const [at, bytes] = line.split(' ').map(Number);
        if (Number.isFinite(at) && Number.isFinite(bytes)) samples.push({ at: at!, bytes: bytes! });
      }
      if (samples.length > 0) resolve({ samples, stop });
    });
  });

  function stop(): Promise<void> {
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM'); // scripts/lab exec ends its command with it
    });
  }
}

export interface BusyWindow {
  bytes: number;
  seconds: number;
  bitsPerS: number;
}

/**
 * The span during which the link was busy: from the last sample before the
 * first interval faster than `busyBitsPerS` to the end of the last such
 * interval. Bytes over that span / its length. Undefined when never busy.
 */
export function busyWindow(samples: readonly CounterSample[], busyBitsPerS: number): BusyWindow | undefined {
  let first = -1;
  let last = -1;
  for (let i = 1; i < samples.length; i++) {
    const dt = (samples[i]!.at - samples[i - 1]!.at) / 1000;
    if (dt > 0 && ((samples[i]!.bytes - samples[i - 1]!.bytes) * 8) / dt >= busyBitsPerS) {
      if (first < 0) first = i - 1;
      last = i;
    }
  }
  if (first < 0) return undefined;
  const bytes = samples[last]!.bytes - samples[first]!.bytes;
  const seconds = (samples[last]!.at - samples[first]!.at) / 1000;
  return { bytes, seconds, bitsPerS: (bytes * 8) / seconds };
}
