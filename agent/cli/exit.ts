/**
 * ferryctl's exit status, the contract scripts rely on (documented in the
 * help, the man page and the README):
 *   0    done
 *   1    the operation failed: the agent refused it or could not be reached,
 *        or the job ended FAILED or CANCELLED
 *   2    usage: the command line, or the environment it reads (FERRY_AGENT,
 *        FERRY_CA…), is wrong; nothing was sent
 *   130  interrupted (Ctrl-C), as a shell reports a SIGINT
 */
export const EXIT = { done: 0, failed: 1, usage: 2, interrupted: 130 } as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Ends the command with a status; the message (if any) goes to stderr as "ferryctl: message". */
export class CliExit extends Error {
  override readonly name = 'CliExit';
  constructor(
    readonly code: ExitCode,
    message = '',
  ) {
    super(message);
  }
}

/** A command line that cannot be sent as it is. */
export function usageError(message: string): CliExit {
  return new CliExit(EXIT.usage, message);
}

/** The operation was tried and did not succeed (the message, if any, has not been printed yet). */
export function operationFailed(message = ''): CliExit {
  return new CliExit(EXIT.failed, message);
}

/** The help epilogue's and the man page's wording. */
export const EXIT_STATUS_HELP = `Exit status:
  0    done
  1    the operation failed: the agent refused it or could not be reached,
       or the job ended FAILED or CANCELLED
  2    usage: the command line (or FERRY_AGENT, FERRY_CA…) is wrong; nothing was sent
  130  interrupted (Ctrl-C)`;
