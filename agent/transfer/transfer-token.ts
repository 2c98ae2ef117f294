// The token a destination gives in its answer to PrepareIncoming and the source presents in its
// HELLO: the pinhole and the certificate say which host may connect, the token says which
// connection is the transfer, so that a second connection from that host cannot take its place.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { TOKEN_LENGTH } from './frames.js';

export function createTransferToken(): Buffer {
  return randomBytes(TOKEN_LENGTH);
}

/** Constant-time comparison (Node's crypto.timingSafeEqual), so a wrong guess says nothing of the right one. */
export function tokenMatches(expected: Buffer, presented: Buffer): boolean {
  return expected.length === TOKEN_LENGTH && presented.length === TOKEN_LENGTH && timingSafeEqual(expected, presented);
}
