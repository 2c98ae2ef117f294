#!/usr/bin/env node
/**
 * Prints this host's capabilities as JSON, as GetCapabilities would answer
 * them but without libvirt: for an operator checking which NIC ferryd will
 * take as the migration NIC before starting it, and for the lab test that
 * runs it inside a lab host. Takes ferryd's configuration flags.
 *
 *   node dist/agent/host/print-facts.js [--config FILE] [--set KEY=VALUE]…
 */
import { loadConfig } from '../config/load.js';
import { collectCapabilities } from './capabilities.js';
import { hypervisorUnavailable } from './host-facts.js';
import { createSystemInformationProbe } from './systeminformation-probe.js';
import { ferryVersion } from './version.js';
import { errorMessage } from '../../shared/errors.js';

const withoutLibvirt = hypervisorUnavailable('print-facts does not connect to libvirt');

try {
  const { config } = loadConfig(process.argv.slice(2), process.env);
  const facts = await collectCapabilities({
    config,
    system: createSystemInformationProbe(),
    hypervisor: withoutLibvirt,
    ferryVersion: ferryVersion(),
  });
  process.stdout.write(`${JSON.stringify(facts, null, 2)}\n`);
} catch (err) {
  process.stderr.write(`print-facts: ${errorMessage(err)}\n`);
  process.exitCode = 2;
}
