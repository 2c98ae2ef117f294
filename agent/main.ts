#!/usr/bin/env node
/**
 * ferryd: the composition root. It wires the adapters (gRPC, libvirt,
 * firewall, host network, peers) to the migration core and owns the process
 * lifecycle; nothing else in the agent reads flags, the environment or
 * signals. READY=1 (systemd) and SERVING (gRPC health) are announced only once
 * gRPC listens, libvirt answers and the firewall is reconciled.
 */
import * as grpc from '@grpc/grpc-js';
import { ConfigError, loadConfig, destinationUri, type AgentConfig } from './config/index.js';
import { createFirewall } from './firewall/index.js';
import { createHostInfo } from './host/host-info.js';
import { createSystemInformationProbe } from './host/systeminformation-probe.js';
import { LibvirtHypervisor } from './hypervisor/libvirt-hypervisor.js';
import { libvirtHostInfo } from './hypervisor/libvirt-host-info.js';
import { ReconnectingClient, unixDialer } from './libvirt/index.js';
import { createLogger, logJobTransition, type Logger } from './log.js';
import { IncomingMigrations } from './migration/incoming.js';
import { Migrations } from './migration/migrations.js';
import { systemClock } from './migration/ports.js';
import type { MigrationPolicy, MigrationStatus } from './migration/types.js';
import { LinuxHostNetwork } from './network/host-network.js';
import { GrpcPeers } from './peers/grpc-peers.js';
import { createHostService } from './rpc/host-service.js';
import { rpcLogInterceptor } from './rpc/logging.js';
import { migrationService } from './rpc/migration-service.js';
import { peerService } from './rpc/peer-service.js';
import { setServing, startGrpcServer } from './rpc/server.js';
import { startSystemdNotifier } from './systemd/notifier.js';

/** Exit status for an invalid configuration (RestartPreventExitStatus=2 in ferryd.service). */
const EXIT_CONFIG = 2;
const CALL_TIMEOUT_MS = 30_000;
const POLL_INTERVAL_MS = 500;

async function main(): Promise<void> {
  const config = loadOrExit();
  const log = createLogger({ level: config.log.level });
  // Reads NOTIFY_SOCKET/WATCHDOG_* before anything spawns a child; pings start now.
  const notifier = startSystemdNotifier({ env: process.env, log });
  if (!config.tls.insecure) {
    log.error('TLS is not implemented yet: set tls.insecure: true (lab and tests only)');
    process.exit(EXIT_CONFIG);
  }
  log.warn('INSECURE: gRPC runs in plaintext without client authentication; never do this in production');

  const libvirt = new ReconnectingClient({
    dialer: unixDialer(config.libvirt.socket),
    uri: 'qemu:///system',
    onStatus: (status, previous, err) => log.info('libvirt connection', { status, previous, error: err?.message }),
  });
  const hypervisor = new LibvirtHypervisor(libvirt);
  const managementAddress = isWildcard(config.listen.address) ? '' : config.listen.address;
  const network = new LinuxHostNetwork(managementAddress);
  const firewall = createFirewall({
    backend: config.firewall.backend,
    portRange: config.migration.portRange,
    defaultTtlMs: config.firewall.pinholeTtlS * 1000,
    localAddresses: () => network.localAddresses().map((a) => a.address),
    logger: { info: (msg, meta) => log.info(msg, meta), warn: (msg, meta) => log.warn(msg, meta) },
  });
  const limits = { maxOutgoing: config.limits.maxOutgoing, maxIncoming: config.limits.maxIncoming };
  const peers = new GrpcPeers(() => grpc.credentials.createInsecure(), CALL_TIMEOUT_MS);

  const migrations = new Migrations({
    hypervisor, peers, network, clock: systemClock, hostName: managementAddress || 'unknown',
    callTimeoutMs: CALL_TIMEOUT_MS, pollIntervalMs: POLL_INTERVAL_MS,
    destinationUriTemplate: config.libvirt.destinationUriTemplate,
    maxOutgoing: () => limits.maxOutgoing,
    retentionMs: config.jobs.retentionS * 1000,
    onTransition: (s, previous) => logTransition(log, s, previous),
  });
  const incoming = new IncomingMigrations({
    network, pinholes: firewall,
    peerLibvirtUri: managementAddress ? destinationUri(config, managementAddress) : '',
    pinholeTtlMs: config.firewall.pinholeTtlS * 1000,
    // A reservation outlives any sane migration; FinishIncoming ends it sooner.
    reservationTtlMs: 6 * 3600_000,
    maxIncoming: () => limits.maxIncoming,
  });
  const activity = {
    counts: () => ({ ...migrations.counts(), outgoing: migrations.counts().running, incoming: incoming.count }),
    isMigrating: (vmId: string) => migrations.list(true).some((s) => s.vmId === vmId),
  };
  const host = createHostInfo({
    config, system: createSystemInformationProbe(), hypervisor: libvirtHostInfo(libvirt), migrations: activity,
    limits: () => limits, firewallBackend: () => firewall.backend,
  });

  const running = await startGrpcServer({
    address: listenAddress(config),
    credentials: grpc.ServerCredentials.createInsecure(),
    services: {
      migration: migrationService({ migrations, hypervisor, policyDefaults: () => policyDefaults(config) }),
      peer: peerService(incoming),
      host: createHostService(host),
    },
    interceptors: [rpcLogInterceptor(log)],
  });

  await libvirt.client();
  await firewall.reconcile(); // logs what it changed
  setServing(running.health, true);
  notifier.trackMigrations(() => activity.counts());
  await notifier.ready(`ready on ${config.listen.address}:${running.port}`);
  log.info('ferryd ready', { address: config.listen.address, port: running.port, config: config.source.file });

  const stop = (signal: string) => {
    log.info('shutting down: running libvirt migrations continue without the agent', { signal });
    void notifier.stopping(`shutting down (${signal})`);
    setServing(running.health, false);
    void running.shutdown().then(async () => {
      incoming.dispose();
      firewall.dispose();
      peers.close();
      host.close();
      await libvirt.close().catch(() => undefined);
      notifier.close();
      process.exit(0);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

function loadOrExit(): AgentConfig {
  try {
    const { config, notes } = loadConfig(process.argv.slice(2), process.env);
    for (const note of notes) console.error(`ferryd: ${note}`);
    return config;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`ferryd: ${err.message}`);
    process.exit(EXIT_CONFIG);
  }
}

function policyDefaults(config: AgentConfig): MigrationPolicy {
  const p = config.policy;
  return {
    maxBandwidthMibps: p.maxBandwidthMibps,
    parallelConnections: p.parallelConnections,
    compression: p.compression,
    autoConverge: p.autoConverge,
    postCopy: p.postCopy,
    encrypted: p.encrypted,
    copyStorage: p.copyStorage,
    initialDowntimeMs: p.initialDowntimeMs,
    stallTimeoutS: p.stallTimeoutS,
  };
}

function logTransition(log: Logger, s: MigrationStatus, previous: string | null): void {
  logJobTransition(log, {
    jobId: s.jobId, vmId: s.vmId, direction: 'outgoing', from: previous?.toUpperCase() ?? null, to: s.phase.toUpperCase(), peer: s.dst, elapsedMs: s.elapsedMs,
    ...(s.error ? { error: { step: s.error.step, code: s.error.kind, message: s.error.message } } : {}),
  });
}

function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '';
}

function listenAddress(config: AgentConfig): string {
  const host = config.listen.address.includes(':') ? `[${config.listen.address}]` : config.listen.address;
  return `${host}:${config.listen.port}`;
}

main().catch((err: unknown) => {
  console.error(`ferryd: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
