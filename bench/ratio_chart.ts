/**
 * An SVG bar chart of the ratios against the C server, written by hand (no
 * dependencies): one group of bars per figure, one bar per server, a line at
 * 1.00× (C), on a log scale so 0.5× and 2× look equally far from C.
 *
 * @module
 */

import { type Cells, FIGURES, ratio } from "./summary.ts";
import { WORKLOADS } from "./workloads.ts";

/** One color per server, shared by the charts. */
export const COLORS: Record<string, string> = {
  "ours-deno": "#2b7bb9",
  "ours-node": "#7fb3dd",
  "ssh2": "#d9822b",
  "sshd": "#6b8e23",
  "c": "#777777",
};

export const escape = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** The chart as SVG text. `servers` are the columns that ran, with their labels. */
export function ratioChart(cells: Cells, servers: { name: string; label: string }[]): string {
  const groups: { label: string; bars: { server: string; value: number | undefined }[] }[] = [];
  for (const workload of WORKLOADS) {
    for (const figure of FIGURES[workload.kind]) {
      if (!figure.ratio) continue;
      const byServer = cells[workload.name]?.[figure.key] ?? {};
      const reference = byServer.c?.median;
      groups.push({
        label: `${workload.name}: ${figure.label}`,
        bars: servers.map((s) => ({ server: s.name, value: ratio(byServer[s.name]?.median, reference) })),
      });
    }
  }
  const values = groups.flatMap((g) => g.bars.map((b) => b.value)).filter((v): v is number =>
    v !== undefined
  );
  const low = Math.min(0.25, ...values);
  const high = Math.max(4, ...values);
  const left = 300, right = 30, top = 50, barHeight = 9, groupGap = 12, plotWidth = 560;
  const groupHeight = servers.length * barHeight + groupGap;
  const height = top + groups.length * groupHeight + 60;
  const width = left + plotWidth + right;
  const x = (value: number): number =>
    left + (Math.log(value) - Math.log(low)) / (Math.log(high) - Math.log(low)) * plotWidth;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">Ratio against the C libssh server ` +
    `(log scale; lower is better; 1× = C)</text>`,
  ];
  for (const tick of [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256].filter((t) => t >= low && t <= high)) {
    const tx = x(tick).toFixed(1);
    parts.push(
      `<line x1="${tx}" y1="${top - 8}" x2="${tx}" y2="${height - 50}" ` +
        `stroke="${tick === 1 ? "#000" : "#ddd"}" stroke-width="${tick === 1 ? 1.5 : 1}"/>`,
      `<text x="${tx}" y="${top - 12}" text-anchor="middle">${tick}×</text>`,
    );
  }
  groups.forEach((group, g) => {
    const y0 = top + g * groupHeight;
    parts.push(
      `<text x="${left - 8}" y="${y0 + (servers.length * barHeight) / 2 + 4}" text-anchor="end">` +
        `${escape(group.label)}</text>`,
    );
    group.bars.forEach((bar, b) => {
      const y = y0 + b * barHeight;
      if (bar.value === undefined) {
        parts.push(`<text x="${left + 4}" y="${y + barHeight - 1}" font-size="8" fill="#999">n/a</text>`);
        return;
      }
      const from = x(Math.min(1, bar.value)), to = x(Math.max(1, bar.value));
      parts.push(
        `<rect x="${from.toFixed(1)}" y="${y}" width="${Math.max(1, to - from).toFixed(1)}" ` +
          `height="${barHeight - 1}" fill="${COLORS[bar.server] ?? "#444"}">` +
          `<title>${escape(bar.server)}: ${bar.value.toFixed(2)}×</title></rect>`,
      );
    });
  });
  const legendY = height - 30;
  servers.forEach((server, i) => {
    const lx = left + i * 120;
    parts.push(
      `<rect x="${lx}" y="${legendY}" width="12" height="12" fill="${COLORS[server.name] ?? "#444"}"/>`,
      `<text x="${lx + 16}" y="${legendY + 10}">${escape(server.label)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
