// A source's PeerAgents wired straight to a destination's IncomingMigrations:
// both cores in one process, for unit tests of what crosses between them.
import type { IncomingMigrations } from '../../agent/migration/incoming/incoming-migrations.js';
import type {
  FinishIncomingArgs,
  IncomingCheckAnswer,
  IncomingCheckArgs,
  IncomingOffer,
  PeerAgents,
  PrepareIncomingArgs,
  PrepareRecoveryArgs,
} from '../../agent/migration/ports.js';

export class LoopbackPeers implements PeerAgents {
  finished: FinishIncomingArgs[] = [];
  constructor(readonly destination: IncomingMigrations) {}
  prepareIncoming(_dst: string, args: PrepareIncomingArgs): Promise<IncomingOffer> {
    return this.destination.prepare(args);
  }
  prepareRecovery(_dst: string, args: PrepareRecoveryArgs): Promise<IncomingOffer> {
    return this.destination.prepareRecovery(args);
  }
  checkIncoming(_dst: string, args: IncomingCheckArgs): Promise<IncomingCheckAnswer> {
    return this.destination.check(args);
  }
  async finishIncoming(_dst: string, args: FinishIncomingArgs): Promise<void> {
    this.finished.push(args);
    await this.destination.finish(args);
  }
}
