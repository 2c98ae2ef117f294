/**
 * The host's own state as watchers see it (libvirt connection, migration
 * NIC, limits, maintenance phase): each change that changes something becomes one event, and a
 * libvirt connection that comes back makes every watcher start over, as
 * lifecycle events may have been lost while it was down.
 */
import type { MaintenancePhase } from '../maintenance/index.js';
import type { HostLimitsFacts, HostStateFacts } from './host-events.js';

export interface HostStatePublisher {
  publish(event: { kind: 'host'; host: HostStateFacts }): unknown;
  resyncAll(reason: 'events-missed', message: string): void;
}

export class HostStateTracker {
  private state: HostStateFacts;
  private hub: HostStatePublisher | undefined;

  constructor(initial: HostStateFacts) {
    this.state = { ...initial, limits: { ...initial.limits } };
  }

  /** Where changes go from now on (the hub needs the tracker first, for its snapshots). */
  attach(hub: HostStatePublisher): void {
    this.hub = hub;
  }

  current(): HostStateFacts {
    return { ...this.state, limits: { ...this.state.limits } };
  }

  libvirtConnected(connected: boolean): void {
    const wasDown = !this.state.libvirtConnected;
    this.update({ libvirtConnected: connected });
    if (connected && wasDown)
      this.hub?.resyncAll('events-missed', 'the agent reconnected to libvirt; VM events may have been missed meanwhile');
  }

  migrationNic(name: string, up: boolean): void {
    this.update({ migrationNic: name, migrationNicUp: up });
  }

  limits(limits: HostLimitsFacts): void {
    this.update({ limits: { ...limits } });
  }

  maintenance(phase: MaintenancePhase): void {
    this.update({ maintenance: phase });
  }

  private update(change: Partial<HostStateFacts>): void {
    const next: HostStateFacts = { ...this.state, ...change };
    if (sameState(next, this.state)) return;
    this.state = next;
    this.hub?.publish({ kind: 'host', host: this.current() });
  }
}

function sameState(a: HostStateFacts, b: HostStateFacts): boolean {
  return (
    a.libvirtConnected === b.libvirtConnected &&
    a.migrationNic === b.migrationNic &&
    a.migrationNicUp === b.migrationNicUp &&
    a.maintenance === b.maintenance &&
    a.limits.maxOutgoing === b.limits.maxOutgoing &&
    a.limits.maxIncoming === b.limits.maxIncoming &&
    a.limits.portRangeFirst === b.limits.portRangeFirst &&
    a.limits.portRangeLast === b.limits.portRangeLast
  );
}
