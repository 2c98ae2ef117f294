/**
 * The maintenance core's public entry (emptying a host before an upgrade):
 * agent/rpc, agent/main.ts and the other adapters import it only from here.
 * Like the migration core it knows ports only (ports.ts) and uses the
 * migration core through that core's own entry.
 */
export { MaintenanceMode } from './maintenance-mode.js';
export { MAX_PARALLEL } from './request.js';
export type * from './ports.js';
export type * from './types.js';
export { NO_MAINTENANCE, FINAL_VM_STATES } from './types.js';
