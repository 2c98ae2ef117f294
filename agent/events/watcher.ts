/**
 * One WatchHost stream: an outbox in front of its transport. The transport's
 * back-pressure is respected (after a refused write nothing more is written
 * until it drains); events meanwhile wait in the outbox, which is bounded.
 * A watcher that falls behind by more than the bound loses its outbox and
 * gets RESYNC and a fresh snapshot instead: never a silent gap.
 */
import type { HostSnapshot, RecordedEvent, ResyncReason, WatchMessage } from './host-events.js';
import type { WatchSink } from './ports.js';

/** Where the snapshot goes once read: the events queued behind it follow it. */
type Pending = { kind: 'snapshot-pending'; generation: number };
type Entry = WatchMessage | Pending;

export interface WatcherContext {
  /** The hub's revision now. */
  revision(): number;
  now(): number;
  /** Reads a snapshot; the hub's revision when called is the one it is taken at. */
  snapshot(): Promise<HostSnapshot>;
  /** The watch ended: forget this watcher. */
  closed(watcher: Watcher): void;
}

export class Watcher {
  private outbox: Entry[] = [];
  /** Event messages in the outbox (what the bound counts). */
  private queuedEvents = 0;
  private draining = false;
  private done = false;
  /** Bumped by every snapshot request: a slower, older read is discarded. */
  private generation = 0;

  constructor(
    private readonly sink: WatchSink,
    private readonly context: WatcherContext,
    /** Events the outbox holds at most. */
    private readonly capacity: number,
  ) {}

  get closed(): boolean {
    return this.done;
  }

  /** Events waiting in the outbox (for tests and stats). */
  get backlog(): number {
    return this.queuedEvents;
  }

  /** Queues events (a replay, then live ones), in revision order. */
  deliver(events: readonly RecordedEvent[]): void {
    if (this.done) return;
    for (const event of events) {
      if (this.queuedEvents >= this.capacity) {
        this.resync('watcher-overflow', `more than ${this.capacity} events waited for this watcher to read them`);
        return; // the snapshot covers the rest
      }
      this.outbox.push({ kind: 'event', ...event });
      this.queuedEvents++;
    }
    this.flush();
  }

  /** Starts over: drops what is queued, says RESYNC, then sends a snapshot and the events after it. */
  resync(reason: ResyncReason, message: string): void {
    if (this.done) return;
    this.outbox = [{ kind: 'resync', revision: this.context.revision(), time: this.context.now(), reason, message }];
    this.queuedEvents = 0;
    this.sendSnapshot();
  }

  /** Queues a snapshot at the hub's current revision; events after it queue behind it. */
  sendSnapshot(): void {
    if (this.done) return;
    const generation = ++this.generation;
    const revision = this.context.revision();
    this.outbox.push({ kind: 'snapshot-pending', generation });
    this.context.snapshot().then(
      (snapshot) => {
        if (this.done || generation !== this.generation) return;
        const at = this.outbox.findIndex((e) => e.kind === 'snapshot-pending' && e.generation === generation);
        if (at < 0) return;
        this.outbox[at] = { kind: 'snapshot', revision, time: this.context.now(), snapshot };
        this.flush();
      },
      (err: unknown) => {
        if (this.done || generation !== this.generation) return;
        this.close();
        this.sink.fail(err);
      },
    );
    this.flush();
  }

  /** Ends the watch normally (the agent stops). */
  end(): void {
    if (this.done) return;
    this.close();
    this.sink.end();
  }

  /** The caller went away. */
  close(): void {
    if (this.done) return;
    this.done = true;
    this.outbox = [];
    this.queuedEvents = 0;
    this.context.closed(this);
  }

  private flush(): void {
    while (!this.done && !this.draining) {
      const next = this.outbox[0];
      if (next === undefined || next.kind === 'snapshot-pending') return;
      this.outbox.shift();
      if (next.kind === 'event') this.queuedEvents--;
      if (!this.sink.write(next)) {
        this.draining = true;
        this.sink.onceDrain(() => {
          this.draining = false;
          this.flush();
        });
      }
    }
  }
}
