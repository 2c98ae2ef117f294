/**
 * Histogram buckets, chosen for migrations: from a disk-less guest on a fast
 * link (under a second) to a large busy guest given an hour; downtime from
 * libvirt's few milliseconds to seconds; bytes from a small guest to a large
 * one with copied disks. Fixed, so every host's histograms aggregate
 * (Prometheus docs, "Histograms and summaries").
 */
export const DURATION_SECONDS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
export const PHASE_SECONDS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800];
export const DOWNTIME_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export const ITERATIONS = [1, 2, 3, 5, 8, 13, 21, 34, 55, 100];
const GIB = 1024 ** 3;
export const TRANSFER_BYTES = [0.0625, 0.25, 1, 4, 16, 64, 256].map((gib) => gib * GIB);
export const RPC_SECONDS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120];
