/**
 * The benchmark's Markdown report: ratios against the C server, absolute
 * figures, the targets, and what did not run.
 *
 * @module
 */

import { type Cells, checkTargets, FIGURES, ratio } from "./summary.ts";
import { WORKLOADS } from "./workloads.ts";

/** A server column of the report. */
export interface ReportServer {
  name: string;
  label: string;
  /** Why it did not run, if it did not. */
  unavailable?: string;
}

/** Everything the report shows besides the cells. */
export interface ReportContext {
  command: string;
  date: string;
  quick: boolean;
  repetitions: number;
  environment: Record<string, string>;
  servers: ReportServer[];
}

const REFERENCE = "c";

function number(value: number | undefined, digits: number): string {
  if (value === undefined) return "n/a";
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map((_, i) => i === 0 ? "---" : "---:")), ...rows.map(line)].join("\n");
}

/** The ratio table alone (workload figure × server), as in the README. */
export function ratioTable(cells: Cells, servers: ReportServer[]): string {
  const columns = servers.filter((s) => !s.unavailable);
  const rows: string[][] = [];
  for (const workload of WORKLOADS) {
    for (const figure of FIGURES[workload.kind]) {
      if (!figure.ratio) continue;
      const byServer = cells[workload.name]?.[figure.key] ?? {};
      const reference = byServer[REFERENCE]?.median;
      rows.push([
        `${workload.name}: ${figure.label}`,
        `${number(reference, figure.digits)} ${figure.unit}`,
        ...columns.map((server) => {
          const cell = byServer[server.name];
          if (!cell || cell.median === undefined) return cell?.errors.length ? "failed" : "n/a";
          const r = ratio(cell.median, reference);
          return r === undefined ? "n/a" : `${r.toFixed(2)}×`;
        }),
      ]);
    }
  }
  return table(["figure (lower is better)", "C value", ...columns.map((s) => s.label)], rows);
}

/**
 * The scale workload as one table (as in the README): per server, CPU per
 * handshake and per exec at each number of sessions held, the growth against
 * none held, context switches with none held, and PSS per idle session at
 * the most held.
 */
export function scaleTable(cells: Cells, servers: ReportServer[]): string {
  const points = WORKLOADS.filter((w) => w.kind === "scale" && cells[w.name]);
  if (points.length === 0) return "";
  const [none, ...held] = points;
  const last = points[points.length - 1];
  const columns = servers.filter((s) =>
    !s.unavailable && points.some((p) => cells[p.name].held?.[s.name]?.median !== undefined)
  );
  const value = (point: string, figure: string, server: string): number | undefined =>
    cells[point]?.[figure]?.[server]?.median;
  const count = (point: string): string =>
    number(Math.max(...columns.map((s) => value(point, "held", s.name) ?? 0)), 0);
  const header = ["server"];
  for (const what of ["handshake", "exec"]) {
    for (const point of points) header.push(`${what} CPU, ${count(point.name)} held`);
    for (const point of held) header.push(`${what} growth at ${count(point.name)}`);
  }
  header.push("ctx switches per handshake / exec (none held)", `PSS per idle session at ${count(last.name)}`);
  const rows = columns.map((server) => {
    const row = [server.label];
    for (const figure of ["handshakeCpuMs", "execCpuMs"]) {
      for (const point of points) row.push(`${number(value(point.name, figure, server.name), 2)} ms`);
      for (const point of held) {
        const growth = ratio(value(point.name, figure, server.name), value(none.name, figure, server.name));
        row.push(growth === undefined ? "n/a" : `${growth.toFixed(2)}×`);
      }
    }
    row.push(
      `${number(value(none.name, "handshakeSwitches", server.name), 1)} / ` +
        number(value(none.name, "execSwitches", server.name), 1),
      `${number(value(last.name, "pssPerSessionKb", server.name), 1)} KB`,
    );
    return row;
  });
  return table(header, rows);
}

/** Absolute medians of every figure. */
function absoluteTable(cells: Cells, servers: ReportServer[]): string {
  const columns = servers.filter((s) => !s.unavailable);
  const rows: string[][] = [];
  for (const workload of WORKLOADS) {
    for (const figure of FIGURES[workload.kind]) {
      const byServer = cells[workload.name]?.[figure.key] ?? {};
      rows.push([
        `${workload.name}: ${figure.label} (${figure.unit}, ${figure.better} is better)`,
        ...columns.map((server) => {
          const cell = byServer[server.name];
          if (!cell || cell.median === undefined) return cell?.errors.length ? "failed" : "n/a";
          const spread = cell.values.length > 1
            ? ` (${number(Math.min(...cell.values), figure.digits)}–${
              number(Math.max(...cell.values), figure.digits)
            })`
            : "";
          return `${number(cell.median, figure.digits)}${spread}`;
        }),
      ]);
    }
  }
  return table(["figure", ...columns.map((s) => s.label)], rows);
}

function failures(cells: Cells): string[] {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const workload of WORKLOADS) {
    for (const byServer of Object.values(cells[workload.name] ?? {})) {
      for (const [server, cell] of Object.entries(byServer)) {
        for (const error of cell.errors) {
          const line = `- ${workload.name} on ${server}: ${error.split("\n")[0]}`;
          if (!seen.has(line)) lines.push(line);
          seen.add(line);
        }
      }
    }
  }
  return lines;
}

/** The whole report, as Markdown. */
export function markdownReport(cells: Cells, context: ReportContext): string {
  const targets = checkTargets(cells);
  const skipped = context.servers.filter((s) => s.unavailable);
  const failed = failures(cells);
  return [
    "# Benchmark: libssh binding vs ssh2, OpenSSH sshd and C libssh",
    "",
    `Command: \`${context.command}\` — ${context.date}, ${context.quick ? "quick" : "full"} run, ` +
    `median of ${context.repetitions} repetition(s), servers interleaved, each started fresh per workload.`,
    "",
    Object.entries(context.environment).map(([k, v]) => `- ${k}: ${v}`).join("\n"),
    "",
    "## Ratios against the C server (same libssh, single process; 1.00× = C)",
    "",
    "Server CPU is user + sys of the server's whole process tree (the `sh -c` commands included), " +
    "from `/proc`. Idle PSS is what the server's own processes (sshd's per-connection processes " +
    "included; not the `cat` each idle channel runs) grow per session from half to all sessions up, " +
    "so one-time costs (code paged in, heaps grown) cancel out; the figure from the start is in the medians.",
    "",
    ratioTable(cells, context.servers),
    "",
    ...(scaleTable(cells, context.servers)
      ? [
        "## Scale: cost against idle sessions held",
        "",
        "Idle authenticated sessions (no channel) are opened and held by one client process; then other " +
        "client processes run handshakes at c=1 and execs on one connection, each measured on its own. " +
        "Growth = CPU with N held ÷ CPU with none held (same server, same run). Context switches are summed " +
        "over the server process's threads (`/proc/PID/task/*/status`). Chart: `*-scale.svg`.",
        "",
        scaleTable(cells, context.servers),
        "",
      ]
      : []),
    "## Targets (ours on Deno)",
    "",
    table(
      ["target", "measured", "met"],
      targets.map((t) => [t.target, t.measured, t.met === undefined ? "n/a" : t.met ? "yes" : "**no**"]),
    ),
    "",
    "## Medians (min–max over repetitions)",
    "",
    absoluteTable(cells, context.servers),
    "",
    ...(skipped.length
      ? ["## Not run", "", ...skipped.map((s) => `- ${s.label}: ${s.unavailable}`), ""]
      : []),
    ...(failed.length ? ["## Failed trials", "", ...failed, ""] : []),
  ].join("\n");
}
