/**
 * What the event hub needs from the rest of the agent: a source of VM
 * lifecycle changes (agent/hypervisor over libvirt's domain events), the
 * parts of a snapshot only others can read, and a transport per watcher
 * (agent/rpc over a gRPC server stream). Tests plug in small fakes.
 */
import type { VmFacts } from '../host/host-info.js';
import type { MigrationStatus } from '../migration/index.js';
import type { VmLifecycleChange, WatchMessage } from './host-events.js';

export interface VmLifecycleSource {
  /** Delivers every lifecycle change of every VM on this host; resolves with the unsubscribe. */
  subscribe(listener: (change: VmLifecycleChange) => void): Promise<() => Promise<void>>;
}

export interface SnapshotSource {
  /** Every VM libvirt knows here; rejects when libvirt cannot answer. */
  vms(): Promise<VmFacts[]>;
  /** Every migration job the agent holds, newest first. */
  migrations(): MigrationStatus[];
}

/** One watcher's transport. */
export interface WatchSink {
  /**
   * Hands one message over. False: the transport is full (it kept this one);
   * write no more until onceDrain calls back.
   */
  write(message: WatchMessage): boolean;
  onceDrain(callback: () => void): void;
  /** Ends the watch with an error (e.g. the snapshot could not be read). */
  fail(err: unknown): void;
  /** Ends the watch normally (the agent stops). */
  end(): void;
}
