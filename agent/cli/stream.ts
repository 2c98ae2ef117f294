/**
 * Reading a server stream (WatchMigration, WatchHost) to its end, with Ctrl-C
 * in the hands of the command: its handler decides, per interruption, to go
 * on or to leave (which cancels the call). Failures come back as FerryErrors,
 * like a unary call's.
 */
import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import { callError } from '../../shared/client.js';
import { onInterrupt } from './interrupt.js';

export interface StreamReading {
  /** 'ended': the agent closed the stream; 'left': the command left it (leave()). */
  done: Promise<'ended' | 'left'>;
  /** Acts as if Ctrl-C were pressed now (the next real one counts as the following). */
  interrupt(): void;
}

/**
 * Calls `onMessage` for each message; on the n-th Ctrl-C calls
 * `onInterrupted(n, leave)`, where leave() stops reading.
 */
export function readStream<T>(
  call: ClientReadableStream<T>,
  onMessage: (message: T) => void,
  onInterrupted: (count: number, leave: () => void) => void,
): StreamReading {
  let count = 0;
  let interrupt = () => {};
  const done = new Promise<'ended' | 'left'>((resolve, reject) => {
    const leave = () => {
      stopListening();
      call.cancel();
      resolve('left');
    };
    interrupt = () => onInterrupted(++count, leave);
    const stopListening = onInterrupt(() => interrupt());
    call.on('data', onMessage);
    call.on('end', () => {
      stopListening();
      resolve('ended');
    });
    call.on('error', (err: ServiceError) => {
      stopListening();
      reject(callError(err));
    });
  });
  return { done, interrupt: () => interrupt() };
}
