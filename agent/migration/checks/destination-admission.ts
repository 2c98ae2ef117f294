/**
 * A destination in maintenance (HostService.EnterMaintenance) refuses every
 * PrepareIncoming until it leaves maintenance: that blocks. What would only
 * make the job wait, not fail: a destination at its incoming
 * limit, or with every port of its range held by pinholes, answers
 * PrepareIncoming with RESOURCE_EXHAUSTED and the source retries until its
 * queue_timeout (outgoing/admission.ts). Busy now is not busy later: warnings.
 */
import type { Findings } from './findings.js';

export function checkAdmission(
  incoming: { count: number; limit: number; maintenance: boolean },
  ports: { free: number; needed: number },
  out: Findings,
): void {
  if (incoming.maintenance) {
    out.block(
      'DESTINATION_IN_MAINTENANCE',
      'the destination is in maintenance and takes no incoming migration: choose another destination, or wait until it leaves maintenance',
    );
  }
  if (incoming.count >= incoming.limit) {
    out.warn(
      'DESTINATION_BUSY',
      `the destination already receives ${incoming.count} migration(s), its incoming limit: the job would wait QUEUED and retry until its queue_timeout`,
    );
  }
  if (ports.free < ports.needed) {
    out.warn(
      'PORT_RANGE_EXHAUSTED',
      `the destination has ${ports.free} free port(s) in its migration port range and the migration needs ${ports.needed}: the job would wait QUEUED until pinholes close`,
    );
  }
}
