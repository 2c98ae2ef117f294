/** The configuration's public surface: what main.ts and the other modules import. */
export { loadConfig, parseYaml, DEFAULT_CONFIG_FILE, type ConfigFlags, type LoadedConfig, type LoadOptions } from './load.js';
export { validateConfig, ConfigError, formatIssues, type ConfigIssue, type Override } from './validate.js';
export {
  dconnuriFor,
  networkText,
  type AgentConfig,
  type MigrationNetworkSpec,
  type NetworkSpec,
  type PolicyDefaults,
  type LogLevel,
  type FirewallBackend,
} from './agent-config.js';
export { parseCidr, cidrContains, type Cidr } from '../../shared/cidr.js';
export { FIELDS, FIELD_KEYS, envName } from './fields.js';
