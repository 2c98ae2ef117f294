/**
 * SIGHUP: re-read the configuration (file, FERRY_* variables, flags) and
 * apply what may change while migrations run: limits.* and policy.* (the
 * defaults of new jobs; running jobs keep the policy they started with).
 * migration.network (which NIC GetCapabilities, health and host events name
 * as the migration NIC, what engines choose dstqemu from) changes too, but
 * only while no migration runs: a migration under way keeps the addresses it
 * was prepared with, and a host that named another migration network in the
 * middle of it would report a NIC that is not the one carrying it. Refused,
 * not deferred: the operator sees at once that the change did not happen
 * and reloads again once the migrations end (a deferred change would apply
 * at a moment nobody chose). display.network changes at any time: each
 * migration reads it once, when this host prepares for it, and a guest that
 * arrived keeps listening where it was told. Every other key needs a restart; a reload that
 * changes one says so. An invalid file changes nothing and is logged, as
 * `systemctl reload` expects.
 */
import { networkText, type AgentConfig } from './agent-config.js';
import { errorMessage } from '../../shared/errors.js';

/** The sections a reload applies. */
export const RELOADABLE = ['limits', 'policy'] as const;

export interface ReloadLog {
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

export interface ConfigReload {
  /** The configuration now in force: the new one, or the current one when the reload failed. */
  config: AgentConfig;
  /** What the reload did, in one line, for systemd's STATUS= ("limits.max_outgoing 2 → 4"). */
  summary: string;
}

/** Loads the configuration again and hands it to apply; `migrationsRunning` counts the migrations under way (both directions). */
export function reloadConfig(
  current: AgentConfig,
  load: () => AgentConfig,
  apply: (next: AgentConfig) => void,
  log: ReloadLog,
  migrationsRunning: () => number = () => 0,
): ConfigReload {
  let next: AgentConfig;
  let networkRefused = '';
  try {
    next = load();
    const network = networkChange(current, next);
    const running = network ? migrationsRunning() : 0;
    if (network && running > 0) {
      // The running migrations' network stays in force; every other key is reloaded as usual.
      next = { ...next, migration: { ...next.migration, network: current.migration.network } };
      networkRefused = `migration.network not changed (${network}): ${running} migration(s) running; reload again once they end`;
      log.warn('SIGHUP: migration.network not changed while migrations run', { change: network, running });
    }
  } catch (err) {
    log.error('SIGHUP: the configuration is invalid; nothing was changed', { error: errorMessage(err) });
    return { config: current, summary: `reload failed, the configuration in force is kept: ${errorMessage(err)}` };
  }
  try {
    apply(next);
  } catch (err) {
    log.error('SIGHUP: applying the configuration failed; nothing was changed', { error: errorMessage(err) });
    return { config: current, summary: `reload failed, the configuration in force is kept: ${errorMessage(err)}` };
  }
  const network = networkChange(current, next);
  const display = change(networkText(current.display.network) || 'none', networkText(next.display.network) || 'none');
  const changes = [
    ...RELOADABLE.flatMap((section) => changedSettings(section, current[section], next[section])),
    ...(network ? [`migration.network ${network}`] : []),
    ...(display ? [`display.network ${display}`] : []),
  ];
  // The networks are compared above; the rest of the migration section (the port range) needs a restart.
  const restartPart = (config: AgentConfig) => ({ ...config, migration: { ...config.migration, network: null }, display: null });
  const needRestart = Object.keys(next).filter(
    (key) =>
      key !== 'source' &&
      !(RELOADABLE as readonly string[]).includes(key) &&
      JSON.stringify((restartPart(next) as unknown as Record<string, unknown>)[key]) !==
        JSON.stringify((restartPart(current) as unknown as Record<string, unknown>)[key]),
  );
  log.info('SIGHUP: configuration reloaded', { changes, limits: next.limits, preset: next.policy.preset, file: next.source.file });
  if (needRestart.length > 0) log.warn('SIGHUP: these settings changed but take effect only after a restart', { keys: needRestart });
  const applied = changes.length > 0 ? `reloaded ${changes.join(', ')}` : 'reloaded, limits and policy unchanged';
  const parts = [
    applied,
    ...(networkRefused ? [networkRefused] : []),
    ...(needRestart.length > 0 ? [`${needRestart.join(', ')} changed: restart to apply`] : []),
  ];
  return { config: next, summary: parts.join('; ') };
}

/** "198.19.0.0/24 → 198.20.0.0/24" when migration.network differs; '' when not. */
function networkChange(before: AgentConfig, after: AgentConfig): string {
  return change(networkText(before.migration.network) || 'none', networkText(after.migration.network) || 'none');
}

function change(before: string, after: string): string {
  return before === after ? '' : `${before} → ${after}`;
}

/** "limits.max_outgoing 2 → 4" for each key of a flat section that changed, named as in ferryd.yaml. */
function changedSettings(section: string, before: object, after: object): string[] {
  const old = before as Record<string, unknown>;
  return Object.entries(after as Record<string, unknown>)
    .filter(([name, value]) => JSON.stringify(value) !== JSON.stringify(old[name]))
    .map(([name, value]) => `${section}.${snakeCase(name)} ${JSON.stringify(old[name])} → ${JSON.stringify(value)}`);
}

/** maxOutgoing → max_outgoing: AgentConfig's names back to the file's. */
function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
