/**
 * The agent process's own health for GetStats: resident memory, uptime and
 * how late its event loop runs. A late event loop delays every RPC, progress
 * message and libvirt keepalive, so an engine (and the benchmarks) should see it.
 *
 * The delay is Node's monitorEventLoopDelay: a libuv timer every
 * RESOLUTION_MS that records how long each interval really took. That
 * interval includes the resolution itself, so it is subtracted. Figures cover
 * fixed windows of WINDOW_MS: GetStats reports the last complete window, so a
 * caller sampling now and then never resets what another caller sees (until
 * the first window closes, the current one so far).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export const RESOLUTION_MS = 10;
export const WINDOW_MS = 10_000;

export interface AgentProcessFacts {
  rssBytes: number;
  /** p99 of the event loop's delay over the reported window, in ms. */
  eventLoopDelayP99Ms: number;
  /** The longest delay in that window, in ms. */
  eventLoopDelayMaxMs: number;
  uptimeS: number;
}

/** What this process reports about itself; unit tests substitute fixed facts. */
export interface AgentProcessProbe {
  facts(): AgentProcessFacts;
  stop(): void;
}

interface Delays {
  p99Ms: number;
  maxMs: number;
}

/** Starts measuring this process; stop() ends it (the timers never keep the process alive). */
export function watchAgentProcess(windowMs = WINDOW_MS): AgentProcessProbe {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  let lastWindow: Delays | undefined;
  const rotate = setInterval(() => {
    lastWindow = delaysOf(histogram);
    histogram.reset();
  }, windowMs);
  rotate.unref();
  return {
    facts() {
      const delays = lastWindow ?? delaysOf(histogram);
      return {
        rssBytes: process.memoryUsage.rss(),
        eventLoopDelayP99Ms: delays.p99Ms,
        eventLoopDelayMaxMs: delays.maxMs,
        uptimeS: Math.round(process.uptime() * 1000) / 1000,
      };
    },
    stop() {
      clearInterval(rotate);
      histogram.disable();
    },
  };
}

/** Nanosecond intervals → milliseconds late, to 0.01 ms; an empty window is 0. */
export function delaysOf(histogram: Pick<IntervalHistogram, 'count' | 'percentile' | 'max'>): Delays {
  if (histogram.count === 0) return { p99Ms: 0, maxMs: 0 };
  const late = (ns: number) => Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 100) / 100);
  return { p99Ms: late(histogram.percentile(99)), maxMs: late(histogram.max) };
}
