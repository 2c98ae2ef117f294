/**
 * The event hub's VmLifecycleSource over libvirt's domain lifecycle events
 * (VIR_DOMAIN_EVENT_ID_LIFECYCLE, for every domain): libvirt's
 * virDomainEventType and detail codes become the names a watcher reads
 * (https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainEventType).
 */
import type { VmLifecycle, VmLifecycleChange, VmLifecycleSource } from '../events/index.js';
import { constants as c, type LifecycleEvent, type ReconnectingClient } from '../libvirt/index.js';

/** Each event type's name for watchers and libvirt's enum of its details (named VIR_DOMAIN_EVENT_<TYPE>_<DETAIL>). */
const EVENTS: Record<number, { event: VmLifecycle; details: Readonly<Record<string, number>> }> = {
  [c.VIR_DOMAIN_EVENT_DEFINED]: { event: 'defined', details: c.virDomainEventDefinedDetailType },
  [c.VIR_DOMAIN_EVENT_UNDEFINED]: { event: 'undefined', details: c.virDomainEventUndefinedDetailType },
  [c.VIR_DOMAIN_EVENT_STARTED]: { event: 'started', details: c.virDomainEventStartedDetailType },
  [c.VIR_DOMAIN_EVENT_SUSPENDED]: { event: 'paused', details: c.virDomainEventSuspendedDetailType },
  [c.VIR_DOMAIN_EVENT_RESUMED]: { event: 'resumed', details: c.virDomainEventResumedDetailType },
  [c.VIR_DOMAIN_EVENT_STOPPED]: { event: 'stopped', details: c.virDomainEventStoppedDetailType },
  [c.VIR_DOMAIN_EVENT_SHUTDOWN]: { event: 'shutdown', details: c.virDomainEventShutdownDetailType },
  [c.VIR_DOMAIN_EVENT_PMSUSPENDED]: { event: 'pmsuspended', details: c.virDomainEventPMSuspendedDetailType },
  [c.VIR_DOMAIN_EVENT_CRASHED]: { event: 'crashed', details: c.virDomainEventCrashedDetailType },
};

/** libvirt's name of an event type, e.g. VIR_DOMAIN_EVENT_STARTED: the prefix of its details' names. */
function typeName(event: number): string {
  return Object.entries(c.virDomainEventType).find(([, value]) => value === event)?.[0] ?? '';
}

/** libvirt's lifecycle event as a watcher reads it; undefined for a type this libvirt is newer than. */
export function lifecycleChange(e: Pick<LifecycleEvent, 'domain' | 'event' | 'detail'>): VmLifecycleChange | undefined {
  const known = EVENTS[e.event];
  if (!known) return undefined;
  const detailName = Object.entries(known.details).find(([name, value]) => value === e.detail && !name.endsWith('_LAST'))?.[0];
  const prefix = `${typeName(e.event)}_`;
  const detail = detailName?.startsWith(prefix) ? detailName.slice(prefix.length).toLowerCase() : `detail_${e.detail}`;
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
