/**
 * Firewall pinholes against the real kernel on the lab, once per backend
 * (nftables, iptables): lab3 is the destination (the agent's firewall runs
 * there in a driver process, and a separate process stands in for QEMU), lab2
 * is the source, lab1 the attacker on the migration network. The suite is
 * test/support/pinhole-suite.ts, which the integration tier also runs in a
 * private network namespace. These tests fail, not skip, when the lab cannot
 * come up. FERRY_TEST_FIREWALL=nftables|iptables runs one backend only
 * (scripts/test --firewall).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe } from 'node:test';
import { ferryd } from '../support/ferry.js';
import { type Backend, backendsUnderTest, type Exec, FirewallView } from '../support/firewall-inspect.js';
import { DRIVER, Driver } from '../support/firewall-lab.js';
import { ensureLab, labExec, labHost, REPO_ROOT } from '../support/lab.js';
import { FOREIGN_RULES, type PinholeEnv, pinholeTests, type Role, uninstallAll } from '../support/pinhole-suite.js';

let labProblem: unknown;
const drivers: Driver[] = [];
const HOST_OF: Record<Role, string> = { agent: 'lab3', qemu: 'lab3', cleanup: 'lab3', source: 'lab2', attacker: 'lab1' };

async function start(role: Role): Promise<Driver> {
  const d = await Driver.start(HOST_OF[role], role);
  drivers.push(d);
  return d;
}

const exec: Exec = (argv) => labExec('lab3', argv, { allowFail: true });

function envFor(backend: Backend): PinholeEnv {
  return {
    backend,
    start,
    connect: (from, port, timeoutMs = 3000) => from.request('connect', { host: labHost(3).migIp, port, timeoutMs }),
    exec,
    view: new FirewallView(backend, exec),
    get dst() {
      return labHost(3).migIp;
    },
    get src() {
      return labHost(2).migIp;
    },
    foreignRules: FOREIGN_RULES,
  };
}

describe('firewall pinholes on the lab (lab3 destination, lab2 source, lab1 attacker)', { timeout: 600_000 }, () => {
  // A lab that cannot come up makes every test below fail (counted as failed, not cancelled or skipped).
  before(async () => {
    try {
      await ensureLab(3);
      // The agents here are this test's drivers: lab3's own ferryd would own the same chain or table.
      await ferryd('stop', 'lab3');
      assert.ok(existsSync(join(REPO_ROOT, DRIVER)), `${DRIVER} missing: build first (npx tsc -p tsconfig.json)`);
      await uninstallAll(envFor('nftables'));
    } catch (err) {
      labProblem = err;
    }
  });

  after(async () => {
    for (const d of drivers.splice(0)) await d.stop().catch(() => undefined);
    if (!labProblem) await uninstallAll(envFor('nftables'));
    await ferryd('start', 'lab3');
  });

  for (const backend of backendsUnderTest()) {
    describe(backend, () => {
      const env = envFor(backend);
      beforeEach(() => {
        if (labProblem) throw labProblem;
      });
      // Every test starts from a lab3 without Ferry's rules, whatever the previous one left.
      afterEach(async () => {
        for (const d of drivers.splice(0)) await d.stop().catch(() => undefined);
        if (!labProblem) await uninstallAll(env);
      });
      pinholeTests(() => env);
    });
  }
});
