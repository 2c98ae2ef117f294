/**
 * The migration core's public entry: adapters (agent/rpc, agent/hypervisor,
 * agent/peers, agent/storage, ...) and agent/main.ts import the core only
 * from here. Inside, the core is grouped by idea: outgoing/ (intake, the
 * live migration and hibernation flows, control, recovery), incoming/ (the
 * destination's reservations), policy/ (what a caller may ask), convergence/
 * (watching and steering a running job), jobs/ (a job, its registry and
 * journal); ports.ts is what it needs from the outside world.
 */
export * from './ports.js';
export type * from './types.js';
export { HostLimits, LIMIT_RANGE } from './limits.js';
export { BASELINE_FEATURES, BUILTIN_DEFAULTS, type HostFeatures, type PolicyRequest } from './policy/policy.js';
export { MAX_STEPS } from './policy/schedule.js';
export { OutgoingMigrations, type OutgoingMigrationsOptions } from './outgoing/outgoing-migrations.js';
export type { ParamsChange } from './outgoing/job-control.js';
export { IncomingMigrations, type IncomingOptions, type IncomingRecord } from './incoming/incoming-migrations.js';
export type { IncomingCheckPorts } from './incoming/incoming-check.js';
export type { DisplayNetwork } from './incoming/display-address.js';
export type { ColdIncomingPorts } from './incoming/cold-incoming.js';
export {
  CHECK_REASONS,
  type CheckFindings,
  type CheckReason,
  type CheckReport,
  type CheckSide,
  type Finding,
} from './checks/findings.js';
export { JobJournal, type JournaledJob } from './jobs/job-journal.js';
export type { JobSelector } from './jobs/job-registry.js';
export { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type JobPage, type JobQuery } from './jobs/job-pages.js';
export type { RequestIdentity } from './jobs/request-identity.js';
export type { RestoreRecord, RestoredVm } from './outgoing/restores.js';
export type { SourceIdentity } from './incoming/source-identity.js';
