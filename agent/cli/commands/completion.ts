/**
 * `ferryctl completion bash`: prints the bash completion script (completion.ts)
 * on stdout, for `source <(ferryctl completion bash)` or for the file
 * scripts/install puts in bash-completion's directory.
 */
import { Argument } from '@commander-js/extra-typings';
import { bashCompletion } from '../completion.js';
import type { Program } from '../program.js';

export function addCompletionCommand(program: Program): void {
  program
    .command('completion')
    .description('print the shell completion script: source <(ferryctl completion bash)')
    .addArgument(new Argument('<SHELL>', 'the shell').choices(['bash']))
    .action(() => {
      process.stdout.write(bashCompletion(program));
    });
}
