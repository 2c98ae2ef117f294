/**
 * The last N events, for watchers that reconnect with since_revision. A ring:
 * memory stays bounded whatever the event rate. A gap (events the agent
 * itself may have missed) empties it: nothing before the gap can be replayed
 * as if it were complete.
 */
import type { RecordedEvent } from './host-events.js';

export type Replay = { events: RecordedEvent[] } | { missing: 'history-exceeded' | 'events-missed' | 'unknown-revision' };

export class EventHistory {
  private readonly ring: RecordedEvent[] = [];
  private start = 0;
  /** The oldest since_revision this history can serve: every event after it is here. */
  private floor = 0;
  /** The revision of the last gap; a since_revision before it crosses the gap. */
  private gapAt = -1;

  constructor(private readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`history capacity must be a positive integer, not ${capacity}`);
  }

  append(event: RecordedEvent): void {
    if (this.ring.length < this.capacity) {
      this.ring.push(event);
      return;
    }
    const dropped = this.ring[this.start];
    this.ring[this.start] = event;
    this.start = (this.start + 1) % this.capacity;
    if (dropped) this.floor = dropped.revision;
  }

  /** Nothing up to `revision` can be replayed: the agent may have missed events. */
  gap(revision: number): void {
    this.ring.length = 0;
    this.start = 0;
    this.floor = revision;
    this.gapAt = revision;
  }

  /** The events after `since`, up to `current` (the hub's revision), or why they cannot be had. */
  after(since: number, current: number): Replay {
    if (since > current) return { missing: 'unknown-revision' };
    if (since < this.floor) return { missing: since < this.gapAt ? 'events-missed' : 'history-exceeded' };
    const events: RecordedEvent[] = [];
    for (let i = 0; i < this.ring.length; i++) {
      const event = this.ring[(this.start + i) % this.ring.length];
      if (event && event.revision > since) events.push(event);
    }
    return { events };
  }
}
