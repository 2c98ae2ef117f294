/**
 * ferryd's command line: `ferryd [run]`, `ferryd check-config`, `ferryd
 * facts`, `help [command]`, --help and --version, parsed with commander as
 * ferryctl's is. Parsing only: what a command does is elsewhere (main.ts runs
 * the agent, check-config.ts and facts.ts the other two). Usage errors exit
 * 2, like an invalid configuration, so systemd does not restart ferryd over a
 * typo in ExecStart= (RestartPreventExitStatus=2 in ferryd.service).
 */
import { Command, CommanderError, Option } from 'commander';
import { DEFAULT_CONFIG_FILE, type ConfigFlags } from '../config/index.js';
import { ferryVersion } from '../host/version.js';

export const EXIT_OK = 0;
/** The operation failed at run time (e.g. facts could not be collected). */
export const EXIT_FAILED = 1;
/** Usage or configuration error: a bad flag, an invalid file, unusable TLS files. */
export const EXIT_USAGE = 2;

export type DaemonCommand = 'run' | 'check-config' | 'facts';

export interface Invocation {
  command: DaemonCommand;
  flags: ConfigFlags;
}

/** What to do: a command, or exit now (help and version printed, or a usage error reported). */
export type CommandLine = { invocation: Invocation } | { exit: number };

export interface CommandLineOutput {
  out(text: string): void;
  err(text: string): void;
}

const processOutput: CommandLineOutput = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

const COMMANDS: readonly { name: DaemonCommand; summary: string; description: string }[] = [
  {
    name: 'run',
    summary: 'run the agent (the default when no command is given)',
    description:
      'Run the agent: serve gRPC, follow libvirt, keep the firewall. Ready (READY=1 to systemd) once gRPC listens, libvirt answers and the firewall is reconciled. SIGHUP reloads, SIGTERM stops.',
  },
  {
    name: 'check-config',
    summary: 'validate the configuration and the TLS files, then exit',
    description:
      'Validate the configuration and the TLS files it names as `ferryd run` would at start, then exit: 0 with one line on success, 2 with every problem.',
  },
  {
    name: 'facts',
    summary: "print this host's capabilities as JSON (no libvirt, no TLS files)",
    description:
      "Print this host's capabilities as JSON, as GetCapabilities answers them but without libvirt: which NIC carries the migration network, the management NIC, KVM. Reads no TLS file.",
  },
];

const AFTER_HELP = `
Configuration, later wins: defaults, the file (${DEFAULT_CONFIG_FILE}, or
--config, or FERRY_CONFIG), FERRY_* variables, then flags. Every key has a
variable: FERRY_ + the key in capitals with dots as underscores, e.g.
FERRY_LISTEN_PORT, FERRY_MIGRATION_NETWORK (empty means unset).

Exit status: 0 done; 1 failed at run time; 2 usage or configuration error.
See ferryd(8).`;

/** Parses ferryd's arguments (without node and the script); help, version and usage errors go to `output`. */
export function parseCommandLine(argv: readonly string[], output: CommandLineOutput = processOutput): CommandLine {
  let invocation: Invocation | undefined;
  const program = new Command('ferryd')
    .description('Ferry migration agent: live migration of KVM guests over a dedicated network, through per-migration firewall pinholes.')
    .usage('[command] [options]')
    .exitOverride()
    .configureOutput({ writeOut: output.out, writeErr: output.err })
    .showHelpAfterError('(ferryd --help lists the commands and options)')
    .version(`ferryd ${ferryVersion()}`, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'print this help and exit')
    .helpCommand('help [command]', 'print the help of a command')
    .addHelpText('after', AFTER_HELP);
  for (const { name, summary, description } of COMMANDS) {
    const command = program
      .command(name)
      .summary(summary)
      .description(description)
      .action((options: Record<string, unknown>) => {
        invocation = { command: name, flags: configFlags(options) };
      });
    addConfigOptions(command);
  }
  try {
    program.parse(withDefaultCommand(argv), { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    // Help and version exit 0; every complaint is a usage error.
    return { exit: err.exitCode === 0 ? EXIT_OK : EXIT_USAGE };
  }
  return invocation ? { invocation } : { exit: EXIT_USAGE };
}

/**
 * `ferryd` alone and `ferryd --config F` run the agent, as they always did.
 * Not commander's default command: that one would take `ferryd frobnicate`
 * as an extra argument of `run` instead of an unknown command.
 */
function withDefaultCommand(argv: readonly string[]): string[] {
  const [first] = argv;
  const programOption = first === '-h' || first === '--help' || first === '-V' || first === '--version';
  return first === undefined || (first.startsWith('-') && !programOption) ? ['run', ...argv] : [...argv];
}

/** The configuration flags every command takes (agent/config/load.ts applies them). */
function addConfigOptions(command: Command): void {
  command
    .addOption(new Option('--config <file>', `the YAML configuration file (default ${DEFAULT_CONFIG_FILE}; env FERRY_CONFIG)`))
    .addOption(
      new Option('--set <key=value>', 'set any key by its dotted path, e.g. --set limits.max_outgoing=4 (repeatable)').argParser(
        (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
      ),
    )
    .addOption(new Option('--listen <host:port>', 'listen.address and listen.port, e.g. 198.18.0.1:54321 (env FERRY_LISTEN)'))
    .addOption(new Option('--insecure', 'tls.insecure=true: plaintext gRPC without authentication, lab only (env FERRY_INSECURE=1)'))
    .addOption(new Option('--log-level <level>', 'log.level: error, warn, info or debug'));
}

/** commander's untyped option values, as the typed flags agent/config/load.ts reads. */
function configFlags(options: Record<string, unknown>): ConfigFlags {
  const flags: ConfigFlags = {};
  if (typeof options.config === 'string') flags.config = options.config;
  if (Array.isArray(options.set)) flags.set = options.set.map(String);
  if (typeof options.listen === 'string') flags.listen = options.listen;
  if (options.insecure === true) flags.insecure = true;
  if (typeof options.logLevel === 'string') flags.logLevel = options.logLevel;
  return flags;
}
