// The data channel of cold migration: a shut-off VM's volumes, source agent to destination agent,
// over one TLS connection through the destination's pinhole (README.md in this folder).
export { TransferError, isTransferError, type TransferFailure } from './errors.js';
export type { ExpectedSource, TransferTls } from './peer-checks.js';
export { receiveVolumes, type IncomingTransfer, type IncomingVolume, type ReceiveOptions, type ReceivedVolume } from './receiver.js';
export { sendVolumes, type OutgoingVolume, type SendOptions, type SentVolume } from './sender.js';
export { PROGRESS_INTERVAL_MS, SendProgressMeter, type SendProgress } from './send-progress.js';
export type { TransferRefusal } from './transfer-listener.js';
export { createTransferToken } from './transfer-token.js';
export { LogicalHash, isVolumeHole, type VolumeChunk, type VolumeHole } from './volume-chunks.js';
