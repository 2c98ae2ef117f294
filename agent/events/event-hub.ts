/**
 * The agent's event hub: every change an engine mirrors (VM lifecycle,
 * migration job phases, host state) gets the next revision of this agent
 * incarnation, goes into a bounded history and out to every watcher. A
 * watcher starts from a snapshot, or from a revision it has seen: replayed
 * when the history still holds what follows it, RESYNC and a snapshot when not.
 */
import type { HostEvent, HostSnapshot, HostStateFacts, RecordedEvent, ResyncReason } from './host-events.js';
import { EventHistory } from './event-history.js';
import type { SnapshotSource, WatchSink } from './ports.js';
import { Watcher } from './watcher.js';

/**
 * Events kept for replay. An engine that reconnects within seconds finds what
 * it missed: a busy host makes a few events a second (8 migrations × ~6 phase
 * changes, their VMs' ~4 lifecycle events each), and a burst of a thousand
 * lifecycle changes still fits. At most a few MB (a job's status is the
 * largest event, ~1-2 kB).
 */
export const DEFAULT_HISTORY_SIZE = 4096;
/**
 * Events one watcher may have waiting (its gRPC stream full). Past it, RESYNC
 * and a snapshot cost the watcher less than the backlog would: it bounds the
 * agent's memory per watcher at ~1 MB of typical events.
 */
export const DEFAULT_WATCHER_BUFFER = 1024;

export interface EventHubOptions {
  /** This agent process's id (a random UUID per start). */
  incarnation: string;
  now: () => number;
  snapshot: SnapshotSource;
  /** The host's state now (HostStateTracker). */
  hostState: () => HostStateFacts;
  historySize?: number;
  watcherBuffer?: number;
}

export interface WatchRequest {
  /** The last revision the caller has seen; 0 for a snapshot. */
  sinceRevision: number;
  /** The incarnation it belongs to; "" is taken as this one. */
  incarnation: string;
}

export class EventHub {
  readonly incarnation: string;
  private revision = 0;
  private readonly history: EventHistory;
  private readonly watchers = new Set<Watcher>();
  private readonly watcherBuffer: number;

  constructor(private readonly options: EventHubOptions) {
    this.incarnation = options.incarnation;
    this.history = new EventHistory(options.historySize ?? DEFAULT_HISTORY_SIZE);
    this.watcherBuffer = options.watcherBuffer ?? DEFAULT_WATCHER_BUFFER;
  }

  get currentRevision(): number {
    return this.revision;
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  /** Numbers the event, keeps it, and sends it to every watcher. */
  publish(event: HostEvent): RecordedEvent {
    const recorded: RecordedEvent = { revision: ++this.revision, time: this.options.now(), event };
    this.history.append(recorded);
    for (const watcher of this.watchers) watcher.deliver([recorded]);
    return recorded;
  }

  /**
   * The agent may have missed changes (its libvirt connection dropped and is
   * back): nothing before now replays, and every watcher starts over.
   */
  resyncAll(reason: ResyncReason, message: string): void {
    this.history.gap(this.revision);
    for (const watcher of this.watchers) watcher.resync(reason, message);
  }

  /** Starts a watch; the watcher is live (it gets every event from now on) when this returns. */
  watch(request: WatchRequest, sink: WatchSink): Watcher {
    const watcher = new Watcher(
      sink,
      {
        revision: () => this.revision,
        now: this.options.now,
        snapshot: () => this.readSnapshot(),
        closed: (w) => this.watchers.delete(w),
      },
      this.watcherBuffer,
    );
    this.watchers.add(watcher);
    const { sinceRevision: since, incarnation } = request;
    if (since === 0) {
      watcher.sendSnapshot();
      return watcher;
    }
    if (incarnation !== '' && incarnation !== this.incarnation) {
      watcher.resync('agent-restarted', `revision ${since} is of agent incarnation ${incarnation}; this agent is ${this.incarnation}`);
      return watcher;
    }
    const replay = this.history.after(since, this.revision);
    if ('events' in replay) watcher.deliver(replay.events);
    else watcher.resync(replay.missing, this.missingText(replay.missing, since));
    return watcher;
  }

  /** Ends every watch (the agent stops). */
  close(): void {
    for (const watcher of [...this.watchers]) watcher.end();
  }

  private async readSnapshot(): Promise<HostSnapshot> {
    const host = this.options.hostState();
    const migrations = this.options.snapshot.migrations();
    return { vms: await this.options.snapshot.vms(), migrations, host };
  }

  private missingText(missing: ResyncReason, since: number): string {
    switch (missing) {
      case 'unknown-revision':
        return `revision ${since} is ahead of this agent's revision ${this.revision}`;
      case 'events-missed':
        return `revision ${since} is before a moment the agent may have missed events (its libvirt connection was lost)`;
      default:
        return `revision ${since} is older than the agent's history of the last events`;
    }
  }
}
