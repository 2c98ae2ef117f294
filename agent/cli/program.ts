/**
 * ferryctl's command tree on commander: the global options every command
 * shares (which agent, how to authenticate, JSON), the help text with the
 * exit status and the Ctrl-C policy, and one registration per command file
 * under commands/. Nothing here connects: commander checks the whole command
 * line (values, extra arguments, unknown commands) before an action runs.
 */
import { Command, type CommandUnknownOpts, Option } from '@commander-js/extra-typings';
import { ferryVersion } from '../host/version.js';
import { addCheckCommand } from './commands/check.js';
import { addCompletionCommand } from './commands/completion.js';
import { addEventsCommand } from './commands/events.js';
import { addHelpCommand } from './commands/help.js';
import { addHibernationCommands } from './commands/hibernation.js';
import { addHostCommands } from './commands/host.js';
import { addJobChangeCommands } from './commands/job-changes.js';
import { addJobCommands } from './commands/jobs.js';
import { addLimitsCommand } from './commands/limits.js';
import { addListCommand } from './commands/list.js';
import { addMaintenanceCommands } from './commands/maintenance.js';
import { addMigrateCommand } from './commands/migrate.js';
import { addRecoverCommand } from './commands/recover.js';
import { EXIT_STATUS_HELP } from './exit.js';
import { INTERRUPT_HELP } from './interrupt.js';
import { agentAddress, duration } from './values.js';

const EPILOGUE = `
The agent: --from HOST[:PORT], or FERRY_AGENT (port 54321 by default).
TLS: --ca/--cert/--key, else FERRY_CA/FERRY_CERT/FERRY_KEY, else /etc/ferry/pki/{ca,engine,engine-key}.pem,
else the lab's /var/lib/ferry-lab/pki. --insecure: plaintext, for agents running with tls.insecure only.
A VM is given by its UUID or its libvirt name; a job by its id (JOB), or by its VM (its current or latest job).

${INTERRUPT_HELP}

ferryctl help COMMAND (or ferryctl COMMAND --help) shows a command's options; man ferryctl has them all.`;

/** The root command with its global options, before the commands are added. */
function rootCommand() {
  return (
    new Command('ferryctl')
      .description("The operator's command line for Ferry agents (ferryd): live migration, hibernation, host facts and events.")
      .version(ferryVersion(), '-V, --version', "print ferryctl's version")
      .helpOption('-h, --help', 'show help for the command')
      // FERRY_AGENT is read when a command connects (agent.ts), so that a bad value cannot break --help or completion.
      .addOption(new Option('--from <HOST[:PORT]>', 'the agent to call (default: $FERRY_AGENT)').argParser(agentAddress))
      .option('--json', 'print canonical proto3 JSON, as grpcurl does (streams: one object per line)')
      .addOption(
        new Option('--timeout <DURATION>', 'deadline of each call (streams have none)')
          .argParser(duration({ min: 1, max: 3_600_000, unit: 'ms' }))
          .default(30_000, '30s'),
      )
      .option('--ca <FILE>', 'the cluster CA certificate')
      .option('--cert <FILE>', 'a client certificate with role engine')
      .option('--key <FILE>', "that certificate's key")
      .addOption(new Option('--insecure', 'plaintext, for agents running with tls.insecure').conflicts(['ca', 'cert', 'key']))
      .configureHelp({ showGlobalOptions: true })
      .showSuggestionAfterError(true)
      .helpCommand(false)
      .exitOverride()
      .configureOutput({
        // One voice for every error: "ferryctl: …", as the actions' own errors.
        outputError: (text, write) => write(text.replace(/^error: /, 'ferryctl: ')),
      })
      .addHelpText('after', EPILOGUE)
      .addHelpText('afterAll', `\n${EXIT_STATUS_HELP}`)
  );
}

export type Program = ReturnType<typeof rootCommand>;

/** The global options as a command's action sees them (command.optsWithGlobals()). */
export type GlobalOptions = ReturnType<Program['opts']>;

export function createProgram(): Program {
  const program = rootCommand();
  addMigrateCommand(program);
  addCheckCommand(program);
  addHibernationCommands(program);
  addJobCommands(program);
  addRecoverCommand(program);
  addJobChangeCommands(program);
  addListCommand(program);
  addLimitsCommand(program);
  addHostCommands(program);
  addMaintenanceCommands(program);
  addEventsCommand(program);
  addCompletionCommand(program);
  addHelpCommand(program);
  pointToUsage(program, 'ferryctl');
  return program;
}

/** After a usage error, one line saying where the usage is: that command's own help. */
function pointToUsage(command: CommandUnknownOpts, path: string): void {
  command.showHelpAfterError(`(${path} --help shows the usage)`);
  for (const sub of command.commands) pointToUsage(sub, `${path} ${sub.name()}`);
}
