/** A WatchHost stream on a lab agent, recorded, for the e2e test and the benchmark. */
import type { ClientReadableStream } from '@grpc/grpc-js';
import type { WatchHostResponse__Output } from '../../shared/generated/ferry/v1/WatchHostResponse.js';
import { agent } from './ferry.js';
import { until } from './wait.js';

export class HostWatch {
  readonly messages: Array<WatchHostResponse__Output & { receivedAt: number }> = [];
  private readonly stream: ClientReadableStream<WatchHostResponse__Output>;
  error: unknown;

  constructor(host: string, request: { sinceRevision?: number; incarnation?: string } = {}) {
    this.stream = agent(host).host.WatchHost({ sinceRevision: request.sinceRevision ?? 0, incarnation: request.incarnation ?? '' });
    this.stream.on('data', (m: WatchHostResponse__Output) => this.messages.push({ ...m, receivedAt: Date.now() }));
    this.stream.on('error', (err) => (this.error = err));
  }

  /** Lifecycle events of one VM, as "EVENT/detail". */
  vmEvents(vmId: string): string[] {
    return this.messages.filter((m) => m.vm?.vmId === vmId).map((m) => `${m.vm?.event.replace('VM_LIFECYCLE_EVENT_', '')}/${m.vm?.detail}`);
  }

  /** Revisions of the events after the last snapshot (or from the start). */
  eventRevisions(): number[] {
    const from = this.messages.findLastIndex((m) => m.snapshot);
    return this.messages
      .slice(from + 1)
      .filter((m) => m.vm || m.migration || m.host)
      .map((m) => m.revision);
  }

  last(): WatchHostResponse__Output | undefined {
    return this.messages.at(-1);
  }

  async waitFor(what: string, check: (w: HostWatch) => boolean, timeoutMs = 60_000): Promise<void> {
    await until(what, () => check(this) || (this.error ? Promise.reject(this.error) : false), { timeoutMs });
  }

  close(): void {
    this.stream.cancel();
  }
}

/** The revisions are consecutive (each one more than the one before). */
export function consecutive(revisions: readonly number[]): boolean {
  return revisions.every((r, i) => i === 0 || r === (revisions[i - 1] ?? -1) + 1);
}
