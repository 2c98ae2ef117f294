#!/usr/bin/env node
/**
 * ferryd: the composition root. It wires the adapters (gRPC, libvirt,
 * firewall, host network, peers) to the migration core and owns the process
 * lifecycle; nothing else in the agent reads the environment or signals, and
 * only agent/daemon/command-line.ts reads the arguments. READY=1 (systemd)
 * and SERVING (gRPC health) are announced only once gRPC listens, libvirt
 * answers and the firewall is reconciled.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { loadConfig, dconnuriFor, type AgentConfig, type ConfigFlags } from './config/index.js';
import { errorMessage } from '../shared/errors.js';
import { checkConfig } from './daemon/check-config.js';
import { EXIT_USAGE, parseCommandLine } from './daemon/command-line.js';
import { printFacts } from './daemon/facts.js';
import { openJournals } from './daemon/journals.js';
import { logMaintenanceEvent } from './daemon/maintenance-log.js';
import { displayNetworkOf } from './daemon/display-network.js';
import { coldMigrationPorts } from './daemon/cold-migration-ports.js';
import { policyDefaults } from './daemon/policy-defaults.js';
import { reloadSequence } from './daemon/reload-sequence.js';
import { checkConfiguration, checkTls } from './daemon/startup-checks.js';
import { tlsListener } from './daemon/tls-listener.js';
import { createFirewall, resolveFirewallBackend } from './firewall/index.js';
import { EventHub, HostStateTracker } from './events/index.js';
import { createHostInfo } from './host/host-info.js';
import { createSystemInformationProbe } from './host/systeminformation-probe.js';
import { LibvirtHypervisor } from './hypervisor/libvirt-hypervisor.js';
import { libvirtHostInfo } from './hypervisor/libvirt-host-info.js';
import { libvirtLifecycleSource } from './hypervisor/lifecycle-events.js';
import { ReconnectingClient, unixDialer } from './libvirt/index.js';
import { createLogger, type Logger } from './log.js';
import { reloadConfig } from './config/reload.js';
import { MaintenanceMode } from './maintenance/index.js';
import { IncomingMigrations, HostLimits, OutgoingMigrations, systemClock, type MigrationStatus, type VmInfo } from './migration/index.js';
import { LocalHibernationFiles } from './storage/local-hibernation-files.js';
import { LocalStoragePaths } from './storage/local-storage-paths.js';
import { QemuImgImages } from './storage/qemu-img-images.js';
import { LinuxHostNetwork } from './network/host-network.js';
import { GrpcPeers } from './peers/grpc-peers.js';
import { authInterceptor } from './rpc/auth.js';
import { createHostService } from './rpc/host-service.js';
import { rpcLogInterceptor } from './rpc/logging.js';
import { migrationService } from './rpc/migration-service.js';
import { peerService } from './rpc/peer-service.js';
import { MigrationHealth } from './rpc/migration-health.js';
import { setServing, startGrpcServer } from './rpc/server.js';
import { startSystemdNotifier } from './systemd/notifier.js';
import { CertificateStore } from './tls/store.js';
import { AgentMetrics } from './telemetry/metrics/index.js';
import { serveMetrics } from './daemon/metrics-endpoint.js';
import { logTransition } from './daemon/job-log.js';
import { warnCertificateAddresses, watchMigrationNetwork } from './daemon/migration-network-watch.js';
import { startTracingFrom } from './daemon/tracing.js';
import type { Tracing } from './telemetry/tracing/index.js';

const CALL_TIMEOUT_MS = 30_000;
const POLL_INTERVAL_MS = 500;
/**
 * How long a failure path waits for libvirt to answer again: libvirtd
 * stopping with a migration running waits 30 s for it, then starts again in
 * seconds (the agent reconnects after ~35 s).
 */
const ANSWER_WAIT_MS = 120_000;

async function main(): Promise<void> {
  const commandLine = parseCommandLine(process.argv.slice(2));
  if ('exit' in commandLine) {
    process.exitCode = commandLine.exit;
    return;
  }
  const { command, flags } = commandLine.invocation;
  const output = { out: (text: string) => process.stdout.write(text), err: (text: string) => process.stderr.write(text) };
  switch (command) {
    case 'check-config':
      process.exitCode = checkConfig(flags, process.env, output);
      return;
    case 'facts':
      process.exitCode = await printFacts(flags, process.env, output);
      return;
    case 'run':
      return run(flags);
  }
}

async function run(flags: ConfigFlags): Promise<void> {
  // `let`: SIGHUP replaces it (limits and policy defaults; see config/reload.ts).
  let config = loadOrExit(flags);
  const log = createLogger({ level: config.log.level });
  // Reads NOTIFY_SOCKET/WATCHDOG_* before anything spawns a child; pings start now.
  const notifier = startSystemdNotifier({ env: process.env, log });
  // null: tls.insecure, no TLS at all (every capabilities answer says so too).
  const trust = loadTrustOrExit(config, log);
  if (!trust) log.warn('INSECURE: gRPC runs in plaintext without client authentication (tls.insecure: true); never do this in production');
  // OpenTelemetry, when the OTEL_* variables ask for it (the resource names this host as peers know it).
  let tracing: Tracing | undefined;
  try {
    tracing = startTracingFrom(process.env, trust?.current.identity.name || os.hostname(), log);
  } catch (err) {
    log.error(`tracing: ${errorMessage(err)}`);
    process.exit(EXIT_USAGE);
  }

  // Host events (WatchHost): the tracker exists before libvirt, which reports to it.
  const limits = new HostLimits(config.limits);
  const limitsFacts = () => ({
    maxOutgoing: limits.maxOutgoing,
    maxIncoming: limits.maxIncoming,
    portRangeFirst: config.migration.portRange.first,
    portRangeLast: config.migration.portRange.last,
  });
  const hostState = new HostStateTracker({
    libvirtConnected: false,
    migrationNic: '',
    migrationNicUp: false,
    limits: limitsFacts(),
    maintenance: 'off',
  });
  const libvirt = new ReconnectingClient({
    dialer: unixDialer(config.libvirt.socket),
    uri: 'qemu:///system',
    // No callTimeoutMs here: the adapters over this client (hypervisor, host
    // facts) own the deadline of every short call; the client's own default is
    // longer, a backstop only.
    onStatus: (status, previous, err) => {
      log.info('libvirt connection', { status, previous, error: err?.message });
      hostState.libvirtConnected(status === 'ready');
    },
  });
  const hypervisor = new LibvirtHypervisor(libvirt, { callTimeoutMs: CALL_TIMEOUT_MS, clock: systemClock });
  const managementAddress = isWildcard(config.listen.address) ? '' : config.listen.address;
  const network = new LinuxHostNetwork(managementAddress);
  // "auto" asks the host once (nft present? which iptables?); the answer holds until restart.
  const firewallChoice = await resolveFirewallBackend(config.firewall.backend);
  log.info('firewall backend', { backend: firewallChoice.backend, reason: firewallChoice.reason });
  const firewall = createFirewall({
    backend: firewallChoice.backend,
    // A host switched from one backend to the other: the old one's chain or table would refuse the new pinholes.
    removeLeftovers: true,
    portRange: config.migration.portRange,
    defaultTtlMs: config.firewall.pinholeTtlS * 1000,
    localAddresses: () => network.localAddresses().map((a) => a.address),
    logger: { info: (msg, meta) => log.info(msg, meta), warn: (msg, meta) => log.warn(msg, meta) },
  });
  const journals = openJournals(config, log);
  const system = createSystemInformationProbe();
  const storage = new LocalStoragePaths();
  const plaintext = grpc.credentials.createInsecure();
  // Read lazily at each scrape, so the sources may be built below.
  const metrics: AgentMetrics | undefined = config.metrics.enabled
    ? new AgentMetrics({
        runningJobs: (): MigrationStatus[] => migrations.list(true),
        incomingReservations: (): number => incoming.count,
        limits: () => limits,
        libvirtConnected: () => hostState.current().libvirtConnected,
        migrationNic: () => ({ name: hostState.current().migrationNic, up: hostState.current().migrationNicUp }),
      })
    : undefined;
  const pinholes = metrics?.observePinholes(firewall) ?? firewall;
  const peers = new GrpcPeers(() => trust?.clientCredentials ?? plaintext, CALL_TIMEOUT_MS);
  const cold = coldMigrationPorts(libvirt, trust, config.storage.imageDirectories, hypervisor, log);

  const migrations = new OutgoingMigrations({
    // With TLS, the name our certificate carries: what the destination checks source_host against.
    hypervisor,
    peers,
    network,
    hibernationFiles: new LocalHibernationFiles(),
    storage,
    clock: systemClock,
    hostName: trust?.current.identity.name || managementAddress || 'unknown',
    pollIntervalMs: POLL_INTERVAL_MS,
    // What the core bounds itself: waiting for a job's end (each call is bounded by its adapter).
    abortWaitMs: 2 * CALL_TIMEOUT_MS,
    answerWaitMs: ANSWER_WAIT_MS,
    dconnuriTemplate: config.libvirt.dconnuriTemplate,
    maxOutgoing: () => limits.maxOutgoing,
    retentionMs: config.jobs.retentionS * 1000,
    maxRetained: config.jobs.maxRetained,
    onTransition: (s, previous, trace) => {
      logTransition(log, s, previous, trace);
      metrics?.jobTransition(s, previous);
      events.publish({ kind: 'migration', job: s });
    },
    journal: journals.jobs,
    restoreJournal: journals.restores,
    onRestoreJournalError: (requestId, err) => log.warn('restore record not written', { requestId, error: String(err) }),
    policyDefaults: () => policyDefaults(config),
    ...(tracing ? { tracer: tracing.tracer } : {}),
    ...cold?.source,
  });
  const hypervisorInfo = libvirtHostInfo(libvirt, { callTimeoutMs: CALL_TIMEOUT_MS });
  // Read from its journal at once: a host left in maintenance refuses incoming migrations from its first call on.
  const maintenance = new MaintenanceMode({
    migrations,
    host: {
      listVms: async () => (await hypervisorInfo.listVms()).map(vmInfoOf),
      describeVm: (vmId) => hypervisor.describeVm(vmId),
      maxOutgoing: () => limits.maxOutgoing,
      names: () => [trust?.current.identity.name ?? '', managementAddress, os.hostname()].filter((n) => n !== ''),
      network,
    },
    memory: peers,
    clock: systemClock,
    journal: journals.maintenance,
    onError: (err) => log.warn('maintenance: record not written or drain fault', { error: errorMessage(err) }),
    onChange: (m) => hostState.maintenance(m.phase),
    onEvent: (event) => logMaintenanceEvent(log, event),
    ...(tracing ? { tracer: tracing.tracer } : {}),
  });
  hostState.maintenance(maintenance.phase());
  const incoming = new IncomingMigrations({
    network,
    pinholes,
    dconnuri: managementAddress ? dconnuriFor(config, managementAddress) : '',
    pinholeTtlMs: config.firewall.pinholeTtlS * 1000,
    // A reservation outlives any sane migration; FinishIncoming ends it sooner.
    reservationTtlMs: 6 * 3600_000,
    maxIncoming: () => limits.maxIncoming,
    clock: systemClock,
    images: new QemuImgImages({ directories: config.storage.imageDirectories }),
    journal: journals.incoming,
    hypervisor,
    // CheckIncoming: libvirt's answers, the paths here, and whether QEMU may use /dev/kvm (as GetCapabilities reports it).
    checks: { hypervisor, storage, kvmAvailable: () => system.kvmAvailable() },
    inMaintenance: () => maintenance.inMaintenance(),
    // Read at each PrepareIncoming and CheckIncoming: SIGHUP may change it (config/reload.ts).
    displayNetwork: () => displayNetworkOf(config),
    ...(tracing ? { tracer: tracing.tracer } : {}),
    ...(cold ? { cold: cold.destination } : {}),
  });
  limits.onChange((now, before) => {
    log.info('migration limits changed', { now, before });
    migrations.limitsChanged();
    hostState.limits(limitsFacts());
  });
  const activity = {
    counts: () => ({ ...migrations.counts(), outgoing: migrations.counts().running, incoming: incoming.count }),
    isMigrating: (vmId: string) => migrations.list(true).some((s) => s.vmId === vmId),
    pausedInPostcopy: () => migrations.pausedInPostcopy(),
  };
  const host = createHostInfo({
    config,
    system,
    hypervisor: hypervisorInfo,
    migrations: activity,
    limits: () => limits,
    firewallBackend: () => firewall.backend,
    firewallBackendReason: () => firewallChoice.reason,
    firewallWarnings: () => firewall.hostWarnings(),
    linkState: (nic) => network.linkState(nic),
    // SIGHUP may change it (config/reload.ts): the NIC named is the one the configuration in force names.
    migrationNetwork: () => config.migration.network,
  });

  const events: EventHub = new EventHub({
    incarnation: randomUUID(),
    now: Date.now,
    snapshot: { vms: () => host.listVms(), migrations: () => migrations.list(false) },
    hostState: () => hostState.current(),
  });
  hostState.attach(events);
  const lifecycle = libvirtLifecycleSource(libvirt).subscribe((vm) => events.publish({ kind: 'vm', vm }));

  const running = await startGrpcServer({
    address: listenAddress(config),
    credentials: grpc.ServerCredentials.createInsecure(),
    // With TLS the listener is ours (client certificates checked, refusals logged).
    ...(trust ? { listener: tlsListener(config, trust, log) } : {}),
    services: {
      migration: migrationService({ migrations, limits }),
      peer: peerService(incoming),
      host: createHostService(host, events, maintenance),
    },
    // The role check last: grpc-js runs the last interceptor outermost, so its refusals are logged too.
    interceptors: [...(metrics ? [metrics.rpcInterceptor()] : []), rpcLogInterceptor(log), ...(trust ? [authInterceptor()] : [])],
  });
  // ferry.migration: NOT_SERVING while the migration NIC is down or missing (and until the agent serves).
  const migrationHealth = new MigrationHealth(running.health);
  // Certificates renew without a restart: SIGHUP, or a change of the files.
  trust?.watch();
  // SIGHUP (`systemctl reload`): the run-time settings (limits.*, policy.*),
  // then the certificates with TLS on; RELOADING=1 … READY=1 around both.
  const reload = reloadSequence(
    notifier,
    [
      () => {
        const reloaded = reloadConfig(
          config,
          () => loadConfig(flags, process.env).config,
          (next) => limits.set(next.limits),
          log,
          () => migrations.counts().running + migrations.counts().queued + incoming.count,
        );
        config = reloaded.config;
        return reloaded.summary;
      },
      () => {
        const summary = trust ? trust.reload('SIGHUP').summary : 'TLS off';
        warnCertificateAddresses(trust?.current.identity, config.migration.network, network, log);
        return summary;
      },
    ],
    log,
  );
  process.on('SIGHUP', () => void reload());
  // A migration address the certificate does not list: peers would refuse its pinholes (PERMISSION_DENIED).
  warnCertificateAddresses(trust?.current.identity, config.migration.network, network, log);

  await libvirt.client();
  await lifecycle;
  // The migration NIC as the configuration in force names it (a reload may change it), for events, health and metrics.
  const stopNicWatch = watchMigrationNetwork(() => config.migration.network, network, log, {
    nic: (name, up) => hostState.migrationNic(name, up),
    health: (link) => migrationHealth.link(link),
  });
  // What a previous run left: reservations whose holes the firewall keeps, and jobs to follow.
  pinholes.adopt(await incoming.recover());
  await firewall.reconcile(); // logs what it changed
  for (const warning of await firewall.hostWarnings()) log.warn('firewall: the host firewall blocks the pinholes', { warning });
  const following = migrations.recover(
    journals.jobs.load((file, err) => log.warn('unreadable job record skipped', { file, error: String(err) })),
  );
  if (following > 0) log.info('following migrations a previous run started', { jobs: following });
  // A drain a previous run left goes on, re-attached to its jobs just recovered.
  maintenance.resume();
  const metricsServer = metrics ? await serveMetrics(config, metrics, log) : undefined;
  setServing(running.health, true);
  migrationHealth.agent(true);
  notifier.trackMigrations(() => activity.counts());
  await notifier.ready(`ready on ${config.listen.address}:${running.port}`);
  log.info('ferryd ready', {
    address: config.listen.address,
    port: running.port,
    config: config.source.file,
    tls: trust ? 'mutual TLS 1.3' : 'INSECURE (plaintext)',
  });

  const stop = (signal: string) => {
    log.info('shutting down: running libvirt migrations continue without the agent', { signal });
    void notifier.stopping(`shutting down (${signal})`);
    migrations.stopAccepting();
    setServing(running.health, false);
    migrationHealth.agent(false);
    stopNicWatch();
    events.close();
    // The journal first: jobs that end because connections close are not
    // over, and stay unfinished on disk for the next start to follow.
    void Promise.all([journals.jobs.freeze(), maintenance.freeze()])
      .then(() => running.shutdown())
      .then(async () => {
        incoming.dispose();
        firewall.dispose();
        peers.close();
        await metricsServer?.close();
        host.close();
        trust?.close();
        await libvirt.close().catch(() => undefined);
        // Spans still queued go out (the exporter's timeout bounds it).
        await tracing?.shutdown().catch((err: unknown) => log.warn('traces not exported at shutdown', { error: errorMessage(err) }));
        notifier.close();
        // stdout is a file, pipe or socket here, written synchronously on Linux: this line is out before exit.
        log.info('ferryd stopped', { signal });
        process.exit(0);
      });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

/** The configuration (every problem listed, exit 2 when there is one), as `ferryd check-config` checks it. */
function loadOrExit(flags: ConfigFlags): AgentConfig {
  const loaded = checkConfiguration(flags, process.env);
  if (!loaded.ok) {
    console.error(`ferryd: ${loaded.problem}`);
    process.exit(EXIT_USAGE);
  }
  for (const note of loaded.value.notes) console.error(`ferryd: ${note}`);
  return loaded.value.config;
}

/** The TLS files, checked as `ferryd check-config` checks them; exits 2 when they are unusable. */
function loadTrustOrExit(config: AgentConfig, log: Logger): CertificateStore | null {
  if (config.tls.insecure) return null;
  const trust = checkTls(() => new CertificateStore(config.tls, log));
  if (!trust.ok) {
    log.error(trust.problem);
    process.exit(EXIT_USAGE);
  }
  return trust.value;
}

/** A VM as libvirt lists it, in the core's terms (only running and paused ones are drained). */
function vmInfoOf(vm: { id: string; name: string; state: string; memoryBytes: number }): VmInfo {
  const state = vm.state === 'running' || vm.state === 'paused' || vm.state === 'shutoff' || vm.state === 'crashed' ? vm.state : 'other';
  return { id: vm.id, name: vm.name, state, memoryBytes: vm.memoryBytes };
}

function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '';
}

function listenAddress(config: AgentConfig): string {
  const host = config.listen.address.includes(':') ? `[${config.listen.address}]` : config.listen.address;
  return `${host}:${config.listen.port}`;
}

main().catch((err: unknown) => {
  console.error(`ferryd: ${errorMessage(err)}`);
  process.exit(1);
});
