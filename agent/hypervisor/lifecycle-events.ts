/**
 * The event hub's VmLifecycleSource over libvirt's domain lifecycle events
 * (VIR_DOMAIN_EVENT_ID_LIFECYCLE, for every domain): libvirt's
 * virDomainEventType and detail codes become the names a watcher reads
 * (https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainEventType).
 */
import type { VmLifecycle, VmLifecycleChange, VmLifecycleSource } from '../events/index.js';
import { constants as c, type LifecycleEvent, type ReconnectingClient } from '../libvirt/index.js';

const EVENTS: Record<number, { event: VmLifecycle; details: Readonly<Record<string, number>>; prefix: string }> = {
  [c.VIR_DOMAIN_EVENT_DEFINED]: { event: 'defined', details: c.virDomainEventDefinedDetailType, prefix: 'VIR_DOMAIN_EVENT_DEFINED_' },
  [c.VIR_DOMAIN_EVENT_UNDEFINED]: {
    event: 'undefined',
    details: c.virDomainEventUndefinedDetailType,
    prefix: 'VIR_DOMAIN_EVENT_UNDEFINED_',
  },
  [c.VIR_DOMAIN_EVENT_STARTED]: { event: 'started', details: c.virDomainEventStartedDetailType, prefix: 'VIR_DOMAIN_EVENT_STARTED_' },
  [c.VIR_DOMAIN_EVENT_SUSPENDED]: { event: 'paused', details: c.virDomainEventSuspendedDetailType, prefix: 'VIR_DOMAIN_EVENT_SUSPENDED_' },
  [c.VIR_DOMAIN_EVENT_RESUMED]: { event: 'resumed', details: c.virDomainEventResumedDetailType, prefix: 'VIR_DOMAIN_EVENT_RESUMED_' },
  [c.VIR_DOMAIN_EVENT_STOPPED]: { event: 'stopped', details: c.virDomainEventStoppedDetailType, prefix: 'VIR_DOMAIN_EVENT_STOPPED_' },
  [c.VIR_DOMAIN_EVENT_SHUTDOWN]: { event: 'shutdown', details: c.virDomainEventShutdownDetailType, prefix: 'VIR_DOMAIN_EVENT_SHUTDOWN_' },
  [c.VIR_DOMAIN_EVENT_PMSUSPENDED]: {
    event: 'pmsuspended',
    details: c.virDomainEventPMSuspendedDetailType,
    prefix: 'VIR_DOMAIN_EVENT_PMSUSPENDED_',
  },
  [c.VIR_DOMAIN_EVENT_CRASHED]: { event: 'crashed', details: c.virDomainEventCrashedDetailType, prefix: 'VIR_DOMAIN_EVENT_CRASHED_' },
};

/** libvirt's lifecycle event as a watcher reads it; undefined for a type this libvirt is newer than. */
export function lifecycleChange(e: Pick<LifecycleEvent, 'domain' | 'event' | 'detail'>): VmLifecycleChange | undefined {
  const known = EVENTS[e.event];
  if (!known) return undefined;
  const detailName = Object.entries(known.details).find(([name, value]) => value === e.detail && !name.endsWith('_LAST'))?.[0];
  const detail = detailName ? detailName.slice(known.prefix.length).toLowerCase() : `detail_${e.detail}`;
  let event = known.event;
  if (e.event === c.VIR_DOMAIN_EVENT_STARTED && e.detail === c.VIR_DOMAIN_EVENT_STARTED_MIGRATED) event = 'migrated-in';
  if (e.event === c.VIR_DOMAIN_EVENT_STOPPED && e.detail === c.VIR_DOMAIN_EVENT_STOPPED_MIGRATED) event = 'migrated-out';
  return { vmId: e.domain.uuid, name: e.domain.name, event, detail, libvirtEvent: e.event, libvirtDetail: e.detail };
}

export function libvirtLifecycleSource(libvirt: ReconnectingClient): VmLifecycleSource {
  return {
    subscribe: (listener) =>
      libvirt.subscribe(c.VIR_DOMAIN_EVENT_ID_LIFECYCLE, (event) => {
        const change = lifecycleChange(event);
        if (change) listener(change);
      }),
  };
}
