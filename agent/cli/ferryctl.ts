#!/usr/bin/env node
/**
 * ferryctl: the operator's command line for Ferry agents. It only uses the
 * typed client from shared/; everything it can do, an engine can do too.
 *
 *   ferryctl migrate VMID --from HOST --to HOST [--dstqemu IP | --network CIDR] [policy flags]
 *   ferryctl status|watch|cancel JOB_OR_VMID --from HOST
 *   ferryctl hibernate VMID --from HOST --file PATH --definition PATH [--overwrite]
 *   ferryctl restore --from HOST --file PATH --definition PATH [--paused]
 *   ferryctl list --from HOST [--vms | --vm VMID --phase PHASE... --page-size N]
 *   ferryctl events --from HOST [--since [INCARNATION/]REV]
 * Every command takes --json for scripts, and --ca/--cert/--key (mutual TLS,
 * see client-tls.ts for the defaults) or --insecure (plaintext agents only).
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { connectAgent, unary, type FerryClients } from '../../shared/client.js';
import { isFerryError, errorMessage } from '../../shared/errors.js';
import { protoTimeFromMs } from '../../shared/proto-time.js';
import type { MigrationProgress__Output } from '../../shared/generated/ferry/v1/MigrationProgress.js';
import type { WatchMigrationResponse__Output } from '../../shared/generated/ferry/v1/WatchMigrationResponse.js';
import type { MigrationPolicy } from '../../shared/generated/ferry/v1/MigrationPolicy.js';
import type { JobSelector } from '../../shared/generated/ferry/v1/JobSelector.js';
import type { MigrationPhase } from '../../shared/generated/ferry/v1/MigrationPhase.js';
import { clientCredentials } from './client-tls.js';
import { followEvents } from './events.js';
import { ProgressPrinter, phaseName, summary, vmStateName } from './progress.js';

const OPTIONS = {
  from: { type: 'string' },
  to: { type: 'string' },
  dstqemu: { type: 'string', default: '' },
  network: { type: 'string', default: '' },
  bandwidth: { type: 'string' },
  parallel: { type: 'string' },
  compression: { type: 'string' },
  'auto-converge': { type: 'boolean' },
  'post-copy': { type: 'boolean' },
  encrypted: { type: 'boolean' },
  'copy-storage': { type: 'string' },
  downtime: { type: 'string' },
  preset: { type: 'string' },
  'completion-timeout': { type: 'string' },
  'stall-timeout': { type: 'string' },
  'queue-timeout': { type: 'string' },
  file: { type: 'string' },
  definition: { type: 'string' },
  overwrite: { type: 'boolean', default: false },
  paused: { type: 'boolean', default: false },
  detach: { type: 'boolean', default: false },
  vms: { type: 'boolean', default: false },
  since: { type: 'string' },
  'request-id': { type: 'string' },
  vm: { type: 'string' },
  phase: { type: 'string', multiple: true },
  'page-size': { type: 'string' },
  json: { type: 'boolean', default: false },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  insecure: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

const USAGE = `usage: ferryctl COMMAND [ARGS] --from HOST[:PORT] [--json] [--ca FILE --cert FILE --key FILE | --insecure]
  migrate VMID --to HOST [--dstqemu IP | --network CIDR] [--bandwidth MIBPS] [--parallel N]
               [--compression none|zlib|zstd|xbzrle] [--auto-converge] [--post-copy] [--encrypted]
               [--copy-storage none|all|incremental] [--downtime MS] [--detach]
               [--preset minimal-downtime|post-copy-when-stalled|suspend-when-stalled]
               [--completion-timeout S_PER_GIB] [--stall-timeout S] [--queue-timeout S]
               [--request-id UUID]   (a retry: the id printed by the first try; default a new one)
  status JOB|VMID     watch JOB|VMID     cancel JOB|VMID
  hibernate VMID --file PATH --definition PATH [--overwrite]
  restore --file PATH --definition PATH [--paused]
  list [--vms | --vm VMID] [--phase queued|preparing|migrating|postcopy|completed|failed|cancelled]...
       [--page-size N]   (every page is fetched; N jobs per call)
  events [--since [INCARNATION/]REV]   host events until interrupted (--json: one object per line)
TLS: --ca/--cert/--key, else FERRY_CA/FERRY_CERT/FERRY_KEY, else /etc/ferry/pki/{ca,engine,engine-key}.pem,
else the lab's /var/lib/ferry-lab/pki/{ca,engine}.crt + engine.key. --insecure: plaintext agents (tls.insecure).`;

// grpc-js sends the dialled address as TLS server name, and Node warns
// (DEP0123) when that is an IP literal, as agents usually are: noise for an
// operator's terminal, and nothing ferryctl can change.
process.noDeprecation = true;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  const [command, target] = positionals;
  if (values.help || !command) return usage(values.help ? 0 : 2);
  if (!values.from) return fail('--from HOST (the agent to call) is required');
  let credentials: ReturnType<typeof clientCredentials>;
  try {
    credentials = clientCredentials(values, process.env);
  } catch (err) {
    if (isFerryError(err)) return fail(err.message);
    throw err;
  }
  const clients = connectAgent(values.from, credentials);
  try {
    switch (command) {
      case 'migrate':
        return await migrate(clients, need(target, 'VMID'), values);
      case 'hibernate':
        return await hibernate(clients, need(target, 'VMID'), values);
      case 'status': {
        const { status } = await byJobOrVm(need(target, 'JOB|VMID'), (job) => unary(clients.migration, 'GetMigrationStatus', { job }));
        if (!status) return fail(`the agent answered GetMigrationStatus for ${target} without the job's status`);
        return print(values, status);
      }
      case 'watch': {
        const { status } = await byJobOrVm(need(target, 'JOB|VMID'), (job) => unary(clients.migration, 'GetMigrationStatus', { job }));
        if (!status) return fail(`the agent answered GetMigrationStatus for ${target} without the job's status`);
        return await follow(clients, { jobId: status.jobId }, values);
      }
      case 'cancel': {
        const { status } = await byJobOrVm(need(target, 'JOB|VMID'), (job) => unary(clients.migration, 'CancelMigration', { job }));
        if (!status) return fail(`the agent answered CancelMigration for ${target} without the job's status`);
        return print(values, status);
      }
      case 'restore': {
        const reply = await unary(clients.migration, 'Restore', {
          path: values.file ?? '',
          dstparams: values.definition ?? '',
          paused: values.paused,
        });
        if (values.json) return json(reply);
        console.log(`restored VM ${reply.vmId} (${reply.name})`);
        return 0;
      }
      case 'list':
        return await list(clients, values);
      case 'events':
        return await followEvents(clients, { since: values.since, json: values.json });
      default:
        return fail(`unknown command "${command}"\n${USAGE}`);
    }
  } catch (err) {
    // The reason (ferry.v1.ErrorReason) is what a script matches on; the kind says how to treat it.
    if (isFerryError(err)) return fail(`${err.kind} ${err.reason}: ${err.message}${hint(err.kind, values)}`);
    throw err;
  } finally {
    clients.close();
  }
}

async function migrate(clients: FerryClients, vmId: string, values: Values): Promise<number> {
  if (!values.to) return fail('--to HOST (the destination agent) is required');
  // A retry with the same id (after a timeout, a lost connection) answers the job the first try made.
  const requestId = values['request-id'] ?? randomUUID();
  console.error(`ferryctl: request id ${requestId} (to retry this exact request: --request-id ${requestId})`);
  const accepted = await unary(clients.migration, 'Migrate', {
    vmId,
    dst: values.to,
    mode: 'MIGRATION_MODE_REMOTE',
    dstqemu: values.dstqemu,
    migrationNetwork: values.network,
    policy: policyFrom(values),
    requestId,
  });
  if (values.detach) {
    if (values.json) return json(accepted);
    console.log(accepted.jobId);
    return 0;
  }
  return follow(clients, { jobId: accepted.jobId }, values);
}

async function hibernate(clients: FerryClients, vmId: string, values: Values): Promise<number> {
  const accepted = await unary(clients.migration, 'Migrate', {
    vmId,
    mode: 'MIGRATION_MODE_FILE',
    dst: values.file ?? '',
    dstparams: values.definition ?? '',
    overwrite: values.overwrite,
  });
  return follow(clients, { jobId: accepted.jobId }, values);
}

/** Streams a job's progress until its final phase; the exit code says how it ended. */
async function follow(clients: FerryClients, job: JobSelector, values: Values): Promise<number> {
  const printer = new ProgressPrinter(process.stderr);
  let last: MigrationProgress__Output | undefined;
  await new Promise<void>((resolve, reject) => {
    const stream = clients.migration.WatchMigration({ job });
    stream.on('data', ({ status }: WatchMigrationResponse__Output) => {
      if (!status) return;
      last = status;
      if (!values.json) printer.update(status);
    });
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  printer.end();
  if (!last) return fail('the agent ended the progress stream without a status');
  print(values, last);
  return phaseName(last) === 'completed' ? 0 : 1;
}

async function list(clients: FerryClients, values: Values): Promise<number> {
  if (values.vms) {
    const { vms } = await unary(clients.host, 'ListVms', {});
    if (values.json) return json(vms);
    for (const vm of vms)
      console.log(`${vm.id}  ${vm.name.padEnd(20)} ${vmStateName(vm.state).padEnd(11)} ${Math.round(vm.memoryBytes / 2 ** 20)} MiB`);
    return 0;
  }
  const jobs: MigrationProgress__Output[] = [];
  const filters = {
    vmId: values.vm ?? '',
    phases: (values.phase ?? []).map((p) => `MIGRATION_PHASE_${p.toUpperCase()}` as MigrationPhase),
    pageSize: values['page-size'] === undefined ? 0 : Number(values['page-size']),
  };
  let pageToken = '';
  do {
    const page = await unary(clients.migration, 'ListMigrations', { ...filters, pageToken });
    jobs.push(...page.jobs);
    pageToken = page.nextPageToken;
  } while (pageToken);
  if (values.json) return json(jobs);
  for (const j of jobs) console.log(`${j.jobId}  ${j.vmId}  ${phaseName(j).padEnd(9)} ${String(j.progressPercent).padStart(3)}%  ${j.dst}`);
  return 0;
}

function policyFrom(values: Values): MigrationPolicy {
  const policy: MigrationPolicy = {};
  if (values.bandwidth !== undefined) policy.maxBandwidthMibps = Number(values.bandwidth);
  if (values.parallel !== undefined) policy.parallelConnections = Number(values.parallel);
  if (values.downtime !== undefined) policy.initialDowntime = protoTimeFromMs(Number(values.downtime));
  if (values.compression !== undefined)
    policy.compression = `COMPRESSION_${values.compression.toUpperCase()}` as NonNullable<MigrationPolicy['compression']>;
  if (values['copy-storage'] !== undefined)
    policy.copyStorage = `COPY_STORAGE_${values['copy-storage'].toUpperCase()}` as NonNullable<MigrationPolicy['copyStorage']>;
  if (values['auto-converge'] !== undefined) policy.autoConverge = values['auto-converge'];
  if (values['post-copy'] !== undefined) policy.postCopy = values['post-copy'];
  if (values.encrypted !== undefined) policy.encrypted = values.encrypted;
  if (values.preset !== undefined) policy.preset = values.preset;
  if (values['completion-timeout'] !== undefined)
    policy.completionTimeoutPerGib = protoTimeFromMs(Number(values['completion-timeout']) * 1000);
  if (values['stall-timeout'] !== undefined) policy.stallTimeout = protoTimeFromMs(Number(values['stall-timeout']) * 1000);
  if (values['queue-timeout'] !== undefined) policy.queueTimeout = protoTimeFromMs(Number(values['queue-timeout']) * 1000);
  return policy;
}

/**
 * A target is a job id or a VM id (both UUIDs): it is tried as a job first,
 * then as a VM ("its current or latest job"). "vm:UUID" skips the first try.
 */
async function byJobOrVm<T>(target: string, call: (job: JobSelector) => Promise<T>): Promise<T> {
  if (target.startsWith('vm:')) return call({ vmId: target.slice(3) });
  try {
    return await call({ jobId: target });
  } catch (err) {
    if (isFerryError(err, 'NOT_FOUND')) return call({ vmId: target });
    throw err;
  }
}

function print(values: Values, p: MigrationProgress__Output): number {
  if (values.json) return json(p);
  console.log(summary(p));
  return 0;
}

function json(value: unknown): number {
  console.log(JSON.stringify(value, null, 2));
  return 0;
}

function need(value: string | undefined, what: string): string {
  if (!value) throw Object.assign(new Error(`missing ${what}\n${USAGE}`), { usage: true });
  return value;
}

function usage(code: number): number {
  (code === 0 ? console.log : console.error)(USAGE);
  return code;
}

/** The usual reasons behind a refusal at the transport, for the operator. */
function hint(kind: string, values: Values): string {
  if (kind === 'UNAVAILABLE' && !values.insecure) {
    return '\n(if the agent is up: is --cert signed by the cluster CA in --ca, and not expired? The agent logs why it refused. An agent with tls.insecure needs --insecure.)';
  }
  if (kind === 'UNAVAILABLE') return '\n(with --insecure: does the agent run with tls.insecure? Otherwise drop --insecure.)';
  return '';
}

function fail(message: string): number {
  console.error(`ferryctl: ${message}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`ferryctl: ${errorMessage(err)}`);
    process.exit(2);
  },
);
