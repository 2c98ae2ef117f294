/**
 * `ferryd check-config`: the configuration and its TLS files checked as
 * `ferryd run` checks them at start, like `sshd -t`, so an operator (or a
 * deployment tool) can try a change before `systemctl reload` or restart.
 * The OTEL_* variables of tracing are checked too.
 * Exit 0 with one line, or 2 with every problem; TLS warnings (a certificate
 * that expires soon, a missing role) are printed but do not fail the check.
 */
import type { ConfigFlags } from '../config/index.js';
import { loadTlsMaterial } from '../tls/material.js';
import { describeIdentity } from '../tls/identity.js';
import { EXIT_OK, EXIT_USAGE, type CommandLineOutput } from './command-line.js';
import { checkConfiguration, checkTls } from './startup-checks.js';
import { errorMessage } from '../../shared/errors.js';
import { tracingSettingsFrom } from '../telemetry/tracing/index.js';

export function checkConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv, output: CommandLineOutput): number {
  const loaded = checkConfiguration(flags, env);
  if (!loaded.ok) {
    output.err(`ferryd: ${loaded.problem}\n`);
    return EXIT_USAGE;
  }
  const { config, notes } = loaded.value;
  for (const note of notes) output.err(`ferryd: ${note}\n`);
  // The OTEL_* variables too: a value `ferryd run` would refuse (docs/operations.md, "Tracing").
  try {
    tracingSettingsFrom(env);
  } catch (err) {
    output.err(`ferryd: tracing: ${errorMessage(err)}\n`);
    return EXIT_USAGE;
  }
  const source = config.source.file ?? 'defaults, FERRY_* variables and flags';
  if (config.tls.insecure) {
    output.out(`ferryd: configuration OK (${source}; TLS off: tls.insecure is true)\n`);
    return EXIT_OK;
  }
  const tls = checkTls(() => loadTlsMaterial(config.tls));
  if (!tls.ok) {
    output.err(`ferryd: ${tls.problem}\n`);
    return EXIT_USAGE;
  }
  const { identity, warnings } = tls.value;
  for (const warning of warnings) output.err(`ferryd: warning: ${warning}\n`);
  output.out(`ferryd: configuration OK (${source}; TLS: ${describeIdentity(identity)}, valid until ${identity.validTo.toISOString()})\n`);
  return EXIT_OK;
}
