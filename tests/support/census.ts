/**
 * What a server process holds, read from /proc (Linux): open descriptors,
 * resident memory, child processes (zombies among them), listening TCP
 * ports, and processes whose command line carries a marker. The reliability
 * tests compare these before and after hostile input, faults and load.
 *
 * @module
 */

import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** A process as /proc shows it. */
export interface ProcessEntry {
  pid: number;
  parent: number;
  /** R, S, D, Z (zombie), … */
  state: string;
  command: string;
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return fallback; // the process ended while we looked
  }
}

/** Number of open file descriptors of `pid` (the listing's own descriptor included, as in every count). */
export function openFds(pid: number = process.pid): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Resident set size of `pid`, in bytes. */
export function rssBytes(pid: number = process.pid): number {
  const match = readOr(`/proc/${pid}/status`, "").match(/^VmRSS:\s+(\d+) kB/m);
  return match ? Number(match[1]) * 1024 : 0;
}

/** Every process on the system. */
export function processes(): ProcessEntry[] {
  const entries: ProcessEntry[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readOr(`/proc/${name}/stat`, "");
    // pid (comm) state ppid …; comm may hold spaces and parentheses.
    const close = stat.lastIndexOf(")");
    if (close < 0) continue;
    const [state, parent] = stat.slice(close + 2).split(" ");
    const command = readOr(`/proc/${name}/cmdline`, "").replaceAll("\0", " ").trim();
    entries.push({ pid: Number(name), parent: Number(parent), state, command });
  }
  return entries;
}

/** The direct children of `pid`. */
export function childProcesses(pid: number = process.pid): ProcessEntry[] {
  return processes().filter((entry) => entry.parent === pid);
}

/** Processes whose command line contains `marker` (this process excluded). */
export function processesMatching(marker: string): ProcessEntry[] {
  return processes().filter((entry) => entry.pid !== process.pid && entry.command.includes(marker));
}

/** The TCP ports `pid` listens on (IPv4 and IPv6), sorted. */
export function listeningPorts(pid: number = process.pid): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/);
      if (match) inodes.add(match[1]);
    } catch { /* closed meanwhile */ }
  }
  const ports = new Set<number>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readOr(table, "").split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // sl local_address rem_address st … inode (field 9); st 0A is LISTEN.
      if (fields.length < 10 || fields[3] !== "0A" || !inodes.has(fields[9])) continue;
      ports.add(parseInt(fields[1].split(":")[1], 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}

/** A snapshot of what a process holds. */
export interface Census {
  fds: number;
  /** Live (non-zombie) child processes. */
  children: number;
  rssBytes: number;
  /** Children in state Z (exited, not reaped). */
  zombies: number[];
  listeningPorts: number[];
}

/** Runs a full collection first when the runtime exposes `gc` (`--expose-gc`), so RSS means live memory. */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Takes a census of `pid` (default: this process). */
export function takeCensus(pid: number = process.pid): Census {
  if (pid === process.pid) collectGarbage();
  const children = childProcesses(pid);
  return {
    fds: openFds(pid),
    children: children.filter((child) => child.state !== "Z").length,
    rssBytes: rssBytes(pid),
    zombies: children.filter((child) => child.state === "Z").map((child) => child.pid),
    listeningPorts: listeningPorts(pid),
  };
}

/**
 * Takes censuses until `settled(census)` holds or `timeoutMs` passed; returns
 * the last one. Closing is asynchronous (a client's EOF, then the server's
 * close): give it time, then judge.
 */
export async function settledCensus(
  settled: (census: Census) => boolean,
  options: { pid?: number; timeoutMs?: number } = {},
): Promise<Census> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    const census = takeCensus(options.pid);
    if (settled(census) || Date.now() > deadline) return census;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Mebibytes, rounded to one decimal, for reports. */
export function mebibytes(bytes: number): number {
  return Math.round(bytes / 104857.6) / 10;
}
