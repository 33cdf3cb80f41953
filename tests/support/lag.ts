/**
 * Event-loop lag, measured with a timer: how much later than asked a
 * `setInterval` callback ran, at worst.
 *
 * On a loaded machine the operating system may not run the process at all
 * for tens of milliseconds; such a gap shows as lag although nothing here
 * held the loop. So each gap is also bounded by the CPU time the process
 * used during it (all its threads: an over-estimate of what held the loop):
 * `maxBusyLagMs` is the lag the process's own work can explain.
 *
 * @module
 */

/** A running measurement; `stop()` ends it and gives the figures. */
export interface LagMonitor {
  stop(): LagFigures;
}

/** What a `LagMonitor` measured. */
export interface LagFigures {
  /** The longest delay beyond the interval, wall clock. */
  maxLagMs: number;
  /** The longest delay beyond the interval, each bounded by the CPU time the process used meanwhile. */
  maxBusyLagMs: number;
  ticks: number;
}

/** Starts a `setInterval` of `intervalMs` and records the longest delays beyond it. */
export function monitorLag(intervalMs = 10): LagMonitor {
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  const figures: LagFigures = { maxLagMs: 0, maxBusyLagMs: 0, ticks: 0 };
  const timer = setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    const lag = now - last - intervalMs;
    figures.maxLagMs = Math.max(figures.maxLagMs, lag);
    figures.maxBusyLagMs = Math.max(figures.maxBusyLagMs, Math.min(lag, (cpu.user + cpu.system) / 1000));
    figures.ticks++;
    last = now;
    lastCpu = process.cpuUsage();
  }, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      return figures;
    },
  };
}
