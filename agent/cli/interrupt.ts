/**
 * Ctrl-C while ferryctl follows a job. The agent owns the job, not the
 * terminal: an engine may follow the same job, and a closed laptop or a lost
 * SSH session must not abort a migration halfway. So by default Ctrl-C stops
 * following and says how to cancel; --cancel-on-interrupt cancels and waits
 * for the job to end, as virsh migrate does on Ctrl-C. Either way the exit
 * status is 130, as for any command a SIGINT ended.
 */

export const INTERRUPT_HELP = `Ctrl-C during migrate, hibernate or watch stops following the job, not the job: the agent owns it
(an engine may follow it too, and a lost terminal must not abort a migration), so ferryctl prints how to cancel
it and exits 130. With --cancel-on-interrupt, Ctrl-C cancels the job and waits until it has ended (what virsh
migrate does on Ctrl-C); a second Ctrl-C stops waiting. Ctrl-C during events stops following (exit status 130).`;

/**
 * Calls `handler` with 1, 2, … on each SIGINT until the returned function is
 * called. While a handler is registered, SIGINT does not end the process.
 */
export function onInterrupt(handler: (count: number) => void): () => void {
  let count = 0;
  const listener = () => handler(++count);
  process.on('SIGINT', listener);
  return () => process.off('SIGINT', listener);
}
