/** The host's display network (ferryd.yaml `display.network`) as the migration core takes it. */
import type { AgentConfig } from '../config/index.js';
import type { DisplayNetwork } from '../migration/index.js';

export function displayNetworkOf(config: AgentConfig): DisplayNetwork | null {
  const spec = config.display.network;
  if (spec === null) return null;
  return spec.kind === 'cidr' ? { cidr: spec.cidr.text } : { interface: spec.name };
}
