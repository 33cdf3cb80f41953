/**
 * Event-loop lag, measured with a timer: how much later than asked a
 * `setInterval` callback ran, at worst.
 *
 * @module
 */

/** A running measurement; `stop()` ends it and gives the figures. */
export interface LagMonitor {
  stop(): { maxLagMs: number; ticks: number };
}

/** Starts a `setInterval` of `intervalMs` and records the longest delay beyond it. */
export function monitorLag(intervalMs = 10): LagMonitor {
  let last = performance.now();
  let maxLagMs = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxLagMs = Math.max(maxLagMs, now - last - intervalMs);
    last = now;
    ticks++;
  }, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      return { maxLagMs, ticks };
    },
  };
}
