/**
 * Host events (WatchHost): the hub, the host-state tracker and the ports
 * they need. Adapters and main.ts import this module only from here.
 */
export { EventHub, DEFAULT_HISTORY_SIZE, DEFAULT_WATCHER_BUFFER, type EventHubOptions, type WatchRequest } from './event-hub.js';
export { HostStateTracker } from './host-state.js';
export type { Watcher } from './watcher.js';
export type * from './host-events.js';
export type * from './ports.js';
