// The pinhole counters, in front of a firewall stand-in whose holes the test
// opens, closes and lets expire: each hole counted once, as closed or as
// expired, and refusals by their kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { ObservedPinholes, type ListedPinholeGate } from '../../agent/telemetry/metrics/pinhole-metrics.js';
import type { OpenedPinhole } from '../../agent/migration/index.js';
import type { PinholeRequest } from '../../shared/pinhole-request.js';
import { FerryError } from '../../shared/errors.js';
import { parseScrape } from '../support/prometheus-text.js';

class StandInFirewall implements ListedPinholeGate {
  holes = new Map<string, OpenedPinhole>();
  refuseNext: FerryError | undefined;
  private next = 0;
  async open(req: PinholeRequest): Promise<OpenedPinhole> {
    if (this.refuseNext) throw this.refuseNext;
    const hole = {
      id: `ph-${++this.next}`,
      vmId: req.vmId,
      jobId: req.jobId,
      source: req.source,
      destination: req.destination,
      ports: [49152],
      expiresAt: 0,
    };
    this.holes.set(hole.id, hole);
    return hole;
  }
  async close(id: string): Promise<boolean> {
    return this.holes.delete(id);
  }
  /** The firewall's own expiry timer. */
  expire(id: string): void {
    this.holes.delete(id);
  }
  freePorts(): number {
    return 64 - this.holes.size;
  }
  adopt(holes: readonly OpenedPinhole[]): void {
    for (const h of holes) this.holes.set(h.id, h);
  }
  list() {
    return [...this.holes.values()];
  }
}

const request = { vmId: 'vm', jobId: 'job', source: '198.19.0.1', destination: '198.19.0.2' } as PinholeRequest;

test('opened, closed, expired and refused pinholes, each counted once', async () => {
  const registry = new Registry();
  const firewall = new StandInFirewall();
  const gate = new ObservedPinholes(firewall, registry);
  const value = async (name: string, labels = {}) => parseScrape(await registry.metrics()).value(name, labels);

  assert.equal(await value('ferry_pinholes_refused_total', { reason: 'resource_exhausted' }), 0, 'at 0 before the first refusal');
  const a = await gate.open(request);
  const b = await gate.open(request);
  const c = await gate.open(request);
  assert.equal(gate.openCount(), 3);
  assert.equal(await gate.close(a.id), true);
  firewall.expire(b.id);
  assert.equal(gate.openCount(), 1, 'the expired one is gone');
  // Closing a hole its expiry already removed counts nothing more.
  assert.equal(await gate.close(b.id), false);
  firewall.expire(c.id);
  await gate.close(c.id);
  firewall.refuseNext = new FerryError('RESOURCE_EXHAUSTED', 'no free port');
  await assert.rejects(gate.open(request), /no free port/);
  gate.adopt([{ ...a, id: 'ph-adopted' }]);
  assert.equal(gate.openCount(), 1);
  firewall.expire('ph-adopted');
  gate.openCount();

  assert.equal(await value('ferry_pinholes_opened_total'), 3);
  assert.equal(await value('ferry_pinholes_closed_total'), 1);
  assert.equal(await value('ferry_pinholes_expired_total'), 3, 'b and c, then the adopted one');
  assert.equal(await value('ferry_pinholes_refused_total', { reason: 'resource_exhausted' }), 1);
  assert.equal(gate.freePorts(), 64);
});
