/**
 * ferryd's watch on its migration network, as the configuration in force
 * names it (a SIGHUP may change it): each change of the NIC's state is one
 * log line, the host state (WatchHost, metrics) and the `ferry.migration`
 * health service follow it; and the host's own migration addresses are
 * checked against its certificate, since peers refuse pinholes for an
 * address it does not list (docs/operations.md, trust model).
 */
import { certificateAddressWarning } from '../../shared/reissue-command.js';
import type { MigrationNetworkSpec } from '../config/agent-config.js';
import { followMigrationLink, migrationAddresses, type MigrationLink } from '../host/migration-link-watch.js';
import type { Logger } from '../log.js';
import type { HostNetwork } from '../migration/index.js';

export interface MigrationNetworkWatchers {
  /** The host state's migration NIC facts (events, metrics). */
  nic(name: string, up: boolean): void;
  /** The `ferry.migration` health service. */
  health(link: MigrationLink): void;
}

/** Follows the migration NIC until the returned stop is called. */
export function watchMigrationNetwork(
  spec: () => MigrationNetworkSpec | null,
  network: Pick<HostNetwork, 'configuredAddresses' | 'linkState'>,
  log: Logger,
  watchers: MigrationNetworkWatchers,
): () => void {
  return followMigrationLink(spec, network, (link) => {
    logMigrationLink(log, link);
    watchers.nic(link.nic, link.up);
    watchers.health(link);
  });
}

/** A migration NIC that goes down (or is missing) is a warning naming it and why; its return, one line. */
function logMigrationLink(log: Logger, link: MigrationLink): void {
  if (!link.configured) return;
  if (link.up) log.info('migration NIC up', { nic: link.nic, link: link.description });
  else
    log.warn('migration NIC down: incoming migrations over it are refused', {
      nic: link.nic || 'none',
      link: link.description,
      reason: link.downReason,
    });
}

/** At start and on every reload: this host's migration addresses its certificate does not list, with the command that fixes it. */
export function warnCertificateAddresses(
  identity: Parameters<typeof certificateAddressWarning>[0] | undefined,
  spec: MigrationNetworkSpec | null,
  network: Pick<HostNetwork, 'localAddresses'>,
  log: Logger,
): void {
  const warning = identity ? certificateAddressWarning(identity, migrationAddresses(spec, network.localAddresses())) : '';
  if (warning) log.warn("TLS: a migration address is not in this host's certificate", { warning });
}
