// A lab host's NIC held to a line rate by `tc` (a token bucket): what the benchmarks measure a
// transfer against, and what the end-to-end tests use to make a transfer last long enough to act
// during it. tbf with a bucket well above one 64 KiB GSO packet and at most 20 ms of queue.
import { labExec } from './lab.js';

/** Holds `nic` of `host` to `rateMbit`; 0 removes the shaping. */
export async function shapeNic(host: string, nic: string, rateMbit: number): Promise<void> {
  if (rateMbit <= 0) {
    await labExec(host, ['tc', 'qdisc', 'del', 'dev', nic, 'root'], { allowFail: true });
    return;
  }
  await labExec(host, [
    'tc',
    'qdisc',
    'replace',
    'dev',
    nic,
    'root',
    'tbf',
    'rate',
    `${rateMbit}mbit`,
    'burst',
    '512kb',
    'latency',
    '20ms',
  ]);
}
