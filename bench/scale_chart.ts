/**
 * An SVG line chart of the scale workload, written by hand (no dependencies):
 * server CPU per handshake and per exec against the number of idle sessions
 * held, one line per server. A flat line is the goal: the cost of an event
 * should not grow with the sessions a server holds.
 *
 * @module
 */

import { COLORS, escape } from "./ratio_chart.ts";
import type { Cells } from "./summary.ts";
import { WORKLOADS } from "./workloads.ts";

const PANELS = [
  { figure: "handshakeCpuMs", title: "server CPU per handshake (c=1), ms" },
  { figure: "execCpuMs", title: "server CPU per exec on one connection, ms" },
] as const;

/** The chart as SVG text; undefined when no scale point ran. `servers` are those that ran. */
export function scaleChart(cells: Cells, servers: { name: string; label: string }[]): string | undefined {
  const points = WORKLOADS.filter((w) => w.kind === "scale" && cells[w.name]);
  const ran = servers.filter((s) => points.some((p) => cells[p.name].held?.[s.name]?.median !== undefined));
  if (ran.length === 0) return undefined;
  const panelWidth = 380, panelHeight = 260, left = 60, top = 50, gap = 90;
  const width = left + PANELS.length * (panelWidth + gap);
  const height = top + panelHeight + 90;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">Cost against idle sessions held ` +
    `(lower and flatter is better)</text>`,
  ];
  PANELS.forEach((panel, p) => {
    const x0 = left + p * (panelWidth + gap);
    const series = ran.map((server) => ({
      server,
      points: points.flatMap((w) => {
        const held = cells[w.name].held?.[server.name]?.median;
        const value = cells[w.name][panel.figure]?.[server.name]?.median;
        return held === undefined || value === undefined ? [] : [{ held, value }];
      }),
    }));
    const all = series.flatMap((s) => s.points);
    const maxHeld = Math.max(1, ...all.map((pt) => pt.held));
    // Gridlines at round values: four steps of 1, 2 or 5 × a power of ten.
    const rough = Math.max(0.1, ...all.map((pt) => pt.value)) / 4;
    const power = 10 ** Math.floor(Math.log10(rough));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough)!;
    const maxValue = step * 4;
    const x = (held: number): number => x0 + (held / maxHeld) * panelWidth;
    const y = (value: number): number => top + panelHeight - (value / maxValue) * panelHeight;
    parts.push(
      `<text x="${x0}" y="${top - 12}" font-weight="bold">${escape(panel.title)}</text>`,
      `<line x1="${x0}" y1="${top + panelHeight}" x2="${x0 + panelWidth}" y2="${
        top + panelHeight
      }" stroke="#000"/>`,
      `<line x1="${x0}" y1="${top}" x2="${x0}" y2="${top + panelHeight}" stroke="#000"/>`,
      `<text x="${x0 + panelWidth / 2}" y="${
        top + panelHeight + 32
      }" text-anchor="middle">idle sessions held</text>`,
    );
    for (let i = 0; i <= 4; i++) {
      const value = (maxValue * i) / 4;
      parts.push(
        `<line x1="${x0}" y1="${y(value).toFixed(1)}" x2="${x0 + panelWidth}" y2="${
          y(value).toFixed(1)
        }" stroke="#eee"/>`,
        `<text x="${x0 - 6}" y="${(y(value) + 4).toFixed(1)}" text-anchor="end">${+value.toFixed(2)}</text>`,
      );
    }
    for (const held of new Set(all.map((pt) => pt.held))) {
      parts.push(
        `<text x="${x(held).toFixed(1)}" y="${top + panelHeight + 16}" text-anchor="middle">` +
          `${held.toLocaleString("en-US")}</text>`,
      );
    }
    for (const { server, points: line } of series) {
      const color = COLORS[server.name] ?? "#444";
      const sorted = [...line].sort((a, b) => a.held - b.held);
      parts.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2" points="${
          sorted.map((pt) => `${x(pt.held).toFixed(1)},${y(pt.value).toFixed(1)}`).join(" ")
        }"/>`,
        ...sorted.map((pt) =>
          `<circle cx="${x(pt.held).toFixed(1)}" cy="${y(pt.value).toFixed(1)}" r="3" fill="${color}">` +
          `<title>${escape(server.label)}: ${pt.value.toFixed(2)} ms with ${pt.held} held</title></circle>`
        ),
      );
    }
  });
  const legendY = height - 24;
  ran.forEach((server, i) => {
    const lx = left + i * 130;
    parts.push(
      `<rect x="${lx}" y="${legendY}" width="12" height="12" fill="${COLORS[server.name] ?? "#444"}"/>`,
      `<text x="${lx + 16}" y="${legendY + 10}">${escape(server.label)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
