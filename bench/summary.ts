/**
 * From trials to figures: medians over repetitions, ratios against the C
 * server, and the targets checked on "ours".
 *
 * @module
 */

import type { TrialResult } from "./trial.ts";
import { SCALE_POINTS, type WorkloadKind, WORKLOADS } from "./workloads.ts";

const GiB = 1024 ** 3;

/** One figure of one workload, e.g. server CPU per operation. */
export interface FigureSpec {
  /** Key in the JSON output. */
  readonly key: string;
  readonly label: string;
  readonly unit: string;
  /** Lower is better (CPU, latency, memory) or higher (throughput). */
  readonly better: "lower" | "higher";
  /** Whether the ratio against C goes into the ratio table and chart. */
  readonly ratio: boolean;
  /** Decimal places in tables. */
  readonly digits: number;
  readonly of: (trial: TrialResult) => number | undefined;
}

const perOp = (trial: TrialResult, value: number | undefined): number | undefined =>
  value === undefined || !trial.ops ? undefined : value / trial.ops;

/** A scale trial's figure per operation of one of its measured parts. */
const perScaleOp = (value: number | undefined, ops: number | undefined, scale = 1): number | undefined =>
  value === undefined || !ops ? undefined : value * scale / ops;

/** The figures reported for each kind of workload. */
export const FIGURES: Record<WorkloadKind, readonly FigureSpec[]> = {
  ops: [
    {
      key: "cpuMsPerOp",
      label: "server CPU per op",
      unit: "ms",
      better: "lower",
      ratio: true,
      digits: 2,
      of: (t) => perOp(t, t.serverCpuSeconds === undefined ? undefined : t.serverCpuSeconds * 1000),
    },
    {
      key: "opsPerSecond",
      label: "ops/s",
      unit: "1/s",
      better: "higher",
      ratio: false,
      digits: 0,
      of: (t) => t.ops && t.seconds ? t.ops / t.seconds : undefined,
    },
    {
      key: "p50Ms",
      label: "latency p50",
      unit: "ms",
      better: "lower",
      ratio: true,
      digits: 2,
      of: (t) => t.p50Ms,
    },
    {
      key: "p99Ms",
      label: "latency p99",
      unit: "ms",
      better: "lower",
      ratio: false,
      digits: 2,
      of: (t) => t.p99Ms,
    },
  ],
  bytes: [
    {
      key: "cpuSecondsPerGiB",
      label: "server CPU per GiB",
      unit: "s",
      better: "lower",
      ratio: true,
      digits: 2,
      of: (t) =>
        t.serverCpuSeconds !== undefined && t.bytes ? t.serverCpuSeconds / (t.bytes / GiB) : undefined,
    },
    {
      key: "mibPerSecond",
      label: "throughput",
      unit: "MiB/s",
      better: "higher",
      ratio: false,
      digits: 0,
      of: (t) => t.bytes && t.seconds ? t.bytes / t.seconds / 2 ** 20 : undefined,
    },
  ],
  idle: [
    {
      key: "pssPerSessionKb",
      label: "server PSS per idle session",
      unit: "KB",
      better: "lower",
      ratio: true,
      digits: 1,
      of: (t) => t.pssPerSessionKb,
    },
    {
      key: "pssPerSessionFromStartKb",
      label: "server PSS per session, from the start (one-time costs included)",
      unit: "KB",
      better: "lower",
      ratio: false,
      digits: 1,
      of: (t) => t.pssPerSessionFromStartKb,
    },
    {
      key: "treePssPerSessionKb",
      label: "PSS per session incl. the `cat` processes",
      unit: "KB",
      better: "lower",
      ratio: false,
      digits: 1,
      of: (t) => t.treePssPerSessionKb,
    },
    {
      key: "idleCpuMs",
      label: "server CPU while idle (whole window)",
      unit: "ms",
      better: "lower",
      ratio: false,
      digits: 0,
      of: (t) => t.idleCpuSeconds === undefined ? undefined : t.idleCpuSeconds * 1000,
    },
    {
      key: "setupCpuMsPerSession",
      label: "server CPU to open a session",
      unit: "ms",
      better: "lower",
      ratio: true,
      digits: 2,
      of: (t) => perOp(t, t.serverCpuSeconds === undefined ? undefined : t.serverCpuSeconds * 1000),
    },
  ],
  scale: [
    {
      key: "held",
      label: "idle sessions held",
      unit: "sessions",
      better: "lower",
      ratio: false,
      digits: 0,
      of: (t) => t.held,
    },
    {
      key: "handshakeCpuMs",
      label: "server CPU per handshake (c=1)",
      unit: "ms",
      better: "lower",
      ratio: false,
      digits: 2,
      of: (t) => perScaleOp(t.handshakeCpuSeconds, t.handshakes, 1000),
    },
    {
      key: "execCpuMs",
      label: "server CPU per exec (one connection)",
      unit: "ms",
      better: "lower",
      ratio: false,
      digits: 2,
      of: (t) => perScaleOp(t.execCpuSeconds, t.execs, 1000),
    },
    {
      key: "handshakeSwitches",
      label: "server context switches per handshake",
      unit: "",
      better: "lower",
      ratio: false,
      digits: 1,
      of: (t) => perScaleOp(t.handshakeSwitches, t.handshakes),
    },
    {
      key: "execSwitches",
      label: "server context switches per exec",
      unit: "",
      better: "lower",
      ratio: false,
      digits: 1,
      of: (t) => perScaleOp(t.execSwitches, t.execs),
    },
    {
      key: "pssPerSessionKb",
      label: "server PSS per idle session (authenticated, no channel)",
      unit: "KB",
      better: "lower",
      ratio: false,
      digits: 1,
      of: (t) => t.pssPerSessionKb,
    },
    {
      key: "idleCpuMs",
      label: "server CPU while the sessions idle (whole window)",
      unit: "ms",
      better: "lower",
      ratio: false,
      digits: 0,
      of: (t) => t.idleCpuSeconds === undefined ? undefined : t.idleCpuSeconds * 1000,
    },
  ],
};

/** The median of one figure for one workload and server. */
export interface Cell {
  /** Median over the successful repetitions; undefined when none succeeded. */
  median: number | undefined;
  /** Every repetition's value, in run order. */
  values: number[];
  /** Errors of failed repetitions. */
  errors: string[];
}

/** All figures: `cells[workload][figure][server]`. */
export type Cells = Record<string, Record<string, Record<string, Cell>>>;

/** The median of `values` (mean of the middle two for an even count). */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Medians of every figure of every workload and server. */
export function summarize(trials: readonly TrialResult[], servers: readonly string[]): Cells {
  const cells: Cells = {};
  for (const workload of WORKLOADS) {
    const byFigure: Record<string, Record<string, Cell>> = {};
    for (const figure of FIGURES[workload.kind]) {
      const byServer: Record<string, Cell> = {};
      for (const server of servers) {
        const runs = trials.filter((t) => t.workload === workload.name && t.server === server);
        const values = runs.filter((t) => t.ok).map(figure.of).filter((v): v is number => v !== undefined);
        byServer[server] = {
          median: median(values),
          values,
          errors: runs.filter((t) => !t.ok).map((t) => t.error ?? "failed"),
        };
      }
      byFigure[figure.key] = byServer;
    }
    cells[workload.name] = byFigure;
  }
  return cells;
}

/** `value / reference`, when both exist and the reference is not 0. */
export function ratio(value: number | undefined, reference: number | undefined): number | undefined {
  if (value === undefined || reference === undefined || reference === 0) return undefined;
  return value / reference;
}

/** One target of the issue, checked. */
export interface TargetCheck {
  readonly target: string;
  /** The measured value, as text. */
  readonly measured: string;
  /** undefined when it could not be measured. */
  readonly met: boolean | undefined;
}

const OURS = "ours-deno";
const C = "c";

const fmt = (value: number | undefined, digits = 2, suffix = "×"): string =>
  value === undefined ? "n/a" : `${value.toFixed(digits)}${suffix}`;

/** The targets of the issue, checked against the medians of "ours" (Deno). */
export function checkTargets(cells: Cells): TargetCheck[] {
  const cell = (workload: string, figure: string, server: string): number | undefined =>
    cells[workload]?.[figure]?.[server]?.median;
  const ratioCheck = (target: string, workload: string, figure: string, limit: number, against = C) => {
    const value = ratio(cell(workload, figure, OURS), cell(workload, figure, against));
    return { target, measured: fmt(value), met: value === undefined ? undefined : value <= limit };
  };
  const checks: TargetCheck[] = [
    ratioCheck("handshake c=1: server CPU ≤ 1.25× C", "handshake-c1", "cpuMsPerOp", 1.25),
    ratioCheck("handshake c=8: server CPU ≤ 1.25× C", "handshake-c8", "cpuMsPerOp", 1.25),
    ratioCheck("handshake c=1: server CPU ≤ 0.4× ssh2", "handshake-c1", "cpuMsPerOp", 0.4, "ssh2"),
    ratioCheck("handshake c=8: server CPU ≤ 0.4× ssh2", "handshake-c8", "cpuMsPerOp", 0.4, "ssh2"),
    ratioCheck("exec on one connection: server CPU ≤ 1.25× C", "exec", "cpuMsPerOp", 1.25),
    ...["upload", "download", "forward-up", "forward-down"].map((w) =>
      ratioCheck(`${w}: server CPU per GiB ≤ 1.15× C`, w, "cpuSecondsPerGiB", 1.15)
    ),
    ratioCheck("handshake c=1: latency p50 ≤ 1.3× C", "handshake-c1", "p50Ms", 1.3),
  ];
  const idleCpu = cell("idle", "idleCpuMs", OURS);
  // /proc counts CPU in 10 ms ticks: one tick is the smallest non-zero reading.
  checks.push({
    target: "idle: 0 CPU (≤ one 10 ms tick over the idle window)",
    measured: fmt(idleCpu, 0, " ms"),
    met: idleCpu === undefined ? undefined : idleCpu <= 10,
  });
  const pss = cell("idle", "pssPerSessionKb", OURS);
  checks.push({
    target: "idle: ≤ 40 KB PSS per session",
    measured: fmt(pss, 1, " KB"),
    met: pss === undefined ? undefined : pss <= 40,
  });
  checks.push(...scaleTargets(cell));
  return checks;
}

/** The scale workload's targets: cost growth with sessions held, against C's and ssh2's, and idle memory. */
function scaleTargets(
  cell: (workload: string, figure: string, server: string) => number | undefined,
): TargetCheck[] {
  const [none, some, many] = SCALE_POINTS.map((held) => `scale-${held}`);
  const growth = (server: string, point: string): number | undefined =>
    ratio(cell(point, "handshakeCpuMs", server), cell(none, "handshakeCpuMs", server));
  const checks: TargetCheck[] = [];
  for (const point of [some, many]) {
    const ours = growth(OURS, point), c = growth(C, point);
    const relative = ratio(ours, c);
    checks.push({
      target: `${point}: handshake CPU growth (held ÷ none) within 1.15× of C's growth`,
      measured: `ours ${fmt(ours)}, C ${fmt(c)}: ${fmt(relative)}`,
      met: relative === undefined ? undefined : relative <= 1.15,
    });
  }
  const againstSsh2 = ratio(cell(some, "handshakeCpuMs", OURS), cell(some, "handshakeCpuMs", "ssh2"));
  checks.push({
    target: `${some}: handshake CPU ≤ 0.6× ssh2's`,
    measured: fmt(againstSsh2),
    met: againstSsh2 === undefined ? undefined : againstSsh2 <= 0.6,
  });
  const pss = cell(many, "pssPerSessionKb", OURS);
  checks.push({
    target: `${many}: ≤ 40 KB PSS per idle session`,
    measured: fmt(pss, 1, " KB"),
    met: pss === undefined ? undefined : pss <= 40,
  });
  const idle = cell(many, "idleCpuMs", OURS);
  checks.push({
    target: `${many}: 0 CPU while the sessions idle (≤ one 10 ms tick)`,
    measured: fmt(idle, 0, " ms"),
    met: idle === undefined ? undefined : idle <= 10,
  });
  for (
    const [figure, what, limit] of [["handshakeCpuMs", "handshake", 1.9], ["execCpuMs", "exec", 1.7]] as const
  ) {
    const value = ratio(cell(none, figure, OURS), cell(none, figure, C));
    checks.push({
      target: `${none}: ${what} CPU ≤ ${limit}× C`,
      measured: fmt(value),
      met: value === undefined ? undefined : value <= limit,
    });
  }
  return checks;
}
