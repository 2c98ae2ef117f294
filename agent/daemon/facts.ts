/**
 * `ferryd facts`: this host's capabilities as JSON, as GetCapabilities
 * answers them but without libvirt and without TLS files, for an operator
 * checking which NIC ferryd will take as the migration NIC before starting it
 * (and for the lab test that runs it inside a lab host). Takes the same
 * configuration flags as `ferryd run`.
 */
import type { ConfigFlags } from '../config/index.js';
import { collectCapabilities } from '../host/capabilities.js';
import { hypervisorUnavailable } from '../host/host-facts.js';
import { createSystemInformationProbe } from '../host/systeminformation-probe.js';
import { ferryVersion } from '../host/version.js';
import { LinuxHostNetwork } from '../network/host-network.js';
import { errorMessage } from '../../shared/errors.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type CommandLineOutput } from './command-line.js';
import { checkConfiguration } from './startup-checks.js';

const withoutLibvirt = hypervisorUnavailable('ferryd facts does not connect to libvirt');

export async function printFacts(flags: ConfigFlags, env: NodeJS.ProcessEnv, output: CommandLineOutput): Promise<number> {
  const loaded = checkConfiguration(flags, env, { checkTlsFiles: false });
  if (!loaded.ok) {
    output.err(`ferryd: ${loaded.problem}\n`);
    return EXIT_USAGE;
  }
  for (const note of loaded.value.notes) output.err(`ferryd: ${note}\n`);
  try {
    const facts = await collectCapabilities({
      config: loaded.value.config,
      system: createSystemInformationProbe(),
      hypervisor: withoutLibvirt,
      // Stacked links judged as ferryd run judges them (a VLAN on a bond with no slave up is down).
      linkState: (nic) => new LinuxHostNetwork('').linkState(nic),
      ferryVersion: ferryVersion(),
    });
    output.out(`${JSON.stringify(facts, null, 2)}\n`);
    return EXIT_OK;
  } catch (err) {
    output.err(`ferryd facts: ${errorMessage(err)}\n`);
    return EXIT_FAILED;
  }
}
