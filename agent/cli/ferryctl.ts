#!/usr/bin/env node
/**
 * ferryctl: the operator's command line for Ferry agents. It uses only the
 * typed client from shared/: everything it does, an engine can do too.
 * The commands are in commands/, assembled by program.ts; this file runs
 * them and turns the outcome into the exit status (exit.ts).
 */
import { CommanderError } from '@commander-js/extra-typings';
import { errorMessage } from '../../shared/errors.js';
import { CliExit, EXIT } from './exit.js';
import { createProgram } from './program.js';

// grpc-js sends the dialled address as TLS server name, and Node warns
// (DEP0123) when that is an IP literal, as agents usually are: noise for an
// operator's terminal, and nothing ferryctl can change.
process.noDeprecation = true;

// A reader that went away (`ferryctl events | head -1`) ends ferryctl quietly, as it would end cat.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(EXIT.done);
  throw err;
});

async function main(argv: string[]): Promise<number> {
  try {
    await createProgram().parseAsync(argv, { from: 'user' });
    return EXIT.done;
  } catch (err) {
    // commander has printed its message (usage) or the help/version (exit code 0).
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.done : EXIT.usage;
    if (err instanceof CliExit) {
      if (err.message) process.stderr.write(`ferryctl: ${err.message}\n`);
      return err.code;
    }
    process.stderr.write(`ferryctl: ${errorMessage(err)}\n`);
    return EXIT.failed;
  }
}

void main(process.argv.slice(2)).then((code) => process.exit(code));
