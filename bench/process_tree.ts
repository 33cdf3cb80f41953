/**
 * What a server costs, read from `/proc` for its whole process tree: CPU
 * (user + sys, including every child it has reaped, such as the `sh -c`
 * commands) and memory (PSS, which splits shared pages fairly among the
 * processes that map them).
 *
 * @module
 */

/** Clock ticks per second of `/proc/PID/stat` times (`getconf CLK_TCK`; 100 on Linux). */
const CLOCK_TICKS_PER_SECOND = 100;

/** A process, its parent, and its CPU so far. */
export interface ProcessStat {
  pid: number;
  ppid: number;
  /** utime + stime + cutime + cstime, in ticks. */
  ticks: number;
}

function readStat(pid: number): ProcessStat | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined; // gone meanwhile
  }
  // The command name in parentheses may hold spaces: split after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state) of proc(5): utime..cstime are fields 14..17.
  const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number);
  return { pid, ppid: Number(fields[1]), ticks: utime + stime + cutime + cstime };
}

/** `root` and all its live descendants. */
export function processTree(root: number): ProcessStat[] {
  const byParent = new Map<number, ProcessStat[]>();
  let rootStat: ProcessStat | undefined;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = readStat(Number(entry.name));
    if (!stat) continue;
    if (stat.pid === root) rootStat = stat;
    const siblings = byParent.get(stat.ppid);
    if (siblings) siblings.push(stat);
    else byParent.set(stat.ppid, [stat]);
  }
  if (!rootStat) return [];
  const tree: ProcessStat[] = [];
  const queue = [rootStat];
  while (queue.length > 0) {
    const stat = queue.pop()!;
    tree.push(stat);
    queue.push(...(byParent.get(stat.pid) ?? []));
  }
  return tree;
}

/**
 * CPU seconds used so far by the tree under `root`. Each live process counts
 * its own time plus that of the children it reaped; a child that exits moves
 * its time into its parent's count, so differences between two samples are
 * exact (to one tick, 10 ms).
 */
export function treeCpuSeconds(root: number): number {
  return processTree(root).reduce((sum, stat) => sum + stat.ticks, 0) / CLOCK_TICKS_PER_SECOND;
}

function executable(pid: number): string | undefined {
  try {
    return Deno.readLinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

function pssKb(pid: number): number {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`);
    return Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** PSS of a server's process tree, in kB. */
export interface TreeMemory {
  /** Processes running the server's own executable (sshd's per-connection processes included). */
  serverKb: number;
  /** The whole tree, including the commands the clients run (`cat`, `sh`). */
  totalKb: number;
  processes: number;
}

/** PSS of the tree under `root`, split into processes running `serverExecutable` and the rest. */
export function treeMemory(root: number, serverExecutable: string): TreeMemory {
  let serverKb = 0, totalKb = 0;
  const tree = processTree(root);
  for (const { pid } of tree) {
    const pss = pssKb(pid);
    totalKb += pss;
    if (executable(pid) === serverExecutable) serverKb += pss;
  }
  return { serverKb, totalKb, processes: tree.length };
}

/** Live descendants of `root` (not `root` itself), deepest last. */
export function descendants(root: number): number[] {
  return processTree(root).map((stat) => stat.pid).filter((pid) => pid !== root);
}

/**
 * Context switches of a process so far: voluntary + involuntary, summed over
 * its threads (`/proc/PID/task/*\/status`). A thread that exits takes its
 * count with it, so keep the window short enough that worker threads live on.
 */
export function contextSwitches(pid: number): number {
  let total = 0;
  let tasks: Iterable<Deno.DirEntry>;
  try {
    tasks = Deno.readDirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  for (const task of tasks) {
    try {
      const status = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/status`);
      for (const match of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) {
        total += Number(match[1]);
      }
    } catch { /* the thread ended meanwhile */ }
  }
  return total;
}
