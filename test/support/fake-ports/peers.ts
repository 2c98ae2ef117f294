// The PeerAgents port's stand-in: a destination agent that answers as the test
// sets it up and records what it was asked.
import type {
  PrepareRecoveryArgs,
  IncomingCheckAnswer,
  IncomingCheckArgs,
  IncomingOffer,
  PeerAgents,
  PrepareIncomingArgs,
} from '../../../agent/migration/ports.js';

export class FakePeers implements PeerAgents {
  prepared: PrepareIncomingArgs[] = [];
  finished: Array<{ jobId: string; success: boolean }> = [];
  prepareError: unknown;
  /** Errors for the next prepares, one each, before prepareError applies. */
  prepareErrors: unknown[] = [];
  /** Every PrepareIncoming call, answered or not, by job id. */
  attempts: string[] = [];
  /** The destination's display address in PrepareIncoming's answer ('' = none). */
  displayAddress = '';
  async prepareIncoming(_dst: string, args: PrepareIncomingArgs): Promise<IncomingOffer> {
    this.attempts.push(args.jobId);
    const next = this.prepareErrors.shift();
    if (next) throw next;
    if (this.prepareError) throw this.prepareError;
    this.prepared.push(args);
    return {
      migrateUri: 'tcp://198.19.0.2:49152',
      listenAddress: '198.19.0.2',
      port: 49152,
      disksPort: 0,
      pinholeExpiresAt: 0,
      dconnuri: 'qemu+tcp://198.18.0.2/system',
      network: args.dstqemu ? 'migration' : 'management',
      displayAddress: this.displayAddress,
    };
  }
  /** Every CheckIncoming, and what the destination answers (nothing found, unless a test says otherwise). */
  checked: IncomingCheckArgs[] = [];
  checkAnswer: IncomingCheckAnswer = { blocking: [], warnings: [], displayAddress: '' };
  checkError: unknown;
  async checkIncoming(_dst: string, args: IncomingCheckArgs): Promise<IncomingCheckAnswer> {
    this.checked.push(args);
    if (this.checkError) throw this.checkError;
    return this.checkAnswer;
  }
  async finishIncoming(_dst: string, args: { jobId: string; success: boolean }): Promise<void> {
    this.finished.push({ jobId: args.jobId, success: args.success });
  }
  /** Every PrepareRecovery, and errors for the next ones (one each). */
  recoveries: PrepareRecoveryArgs[] = [];
  recoveryErrors: unknown[] = [];
  async prepareRecovery(_dst: string, args: PrepareRecoveryArgs): Promise<IncomingOffer> {
    const next = this.recoveryErrors.shift();
    if (next) throw next;
    this.recoveries.push(args);
    const port = 49200 + this.recoveries.length;
    const address = args.dstqemu || '198.19.0.2';
    return {
      migrateUri: `tcp://${address}:${port}`,
      listenAddress: address,
      port,
      disksPort: 0,
      pinholeExpiresAt: 0,
      dconnuri: 'qemu+tcp://198.18.0.2/system',
      network: 'migration',
      displayAddress: '',
    };
  }
}
