/**
 * The DemoServer CLI as a separate process, for tests that measure what the
 * server holds (its RSS and CPU time from /proc are then its own, not the
 * test runner's and its clients'), optionally under `prlimit`.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { rssBytes } from "./census.ts";
import { scriptCommand } from "./clients.ts";

/** A running DemoServer CLI. */
export interface CliServer {
  readonly pid: number;
  readonly port: number;
  /** What it printed on stderr so far (its timeline, with `--verbose`). */
  stderr(): string;
  /** Whether the process still runs. */
  readonly alive: boolean;
  /** Its resident memory, in bytes. */
  rss(): number;
  /** CPU time it used so far (user + system), in milliseconds. */
  cpuMs(): number;
  /** Samples its RSS every 50 ms until `stop()`, which returns the peak. */
  sampleRss(): { stop(): number };
  /** SIGTERMs it (by PID) and waits for it to exit. */
  [Symbol.asyncDispose](): Promise<void>;
}

const CLI = new URL("../../src/demo/cli", import.meta.url);
const CLOCK_TICKS_PER_SECOND = 100;

/** Starts the CLI with `args`; `prefix` runs it through a wrapper that execs it (`["prlimit", "--nofile=256"]`). */
export async function startCli(args: string[] = [], options: { prefix?: string[] } = {}): Promise<CliServer> {
  const [command, commandArgs] = scriptCommand(CLI, args);
  const argv = [...(options.prefix ?? []), command, ...commandArgs];
  const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  let stdout = "";
  let alive = true;
  child.stderr!.on("data", (data) => stderr += data);
  const exited = new Promise<void>((resolve) =>
    child.on("close", () => {
      alive = false;
      resolve();
    })
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on("data", (data) => {
      stdout += data;
      const match = stdout.match(/"port":(\d+)/);
      if (match) resolve(Number(match[1]));
    });
    void exited.then(() => reject(new Error(`the CLI exited before listening: ${stderr}`)));
  });
  const pid = child.pid!;
  const cpuMs = (): number => {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after "pid (comm)".
    return (Number(fields[11]) + Number(fields[12])) * 1000 / CLOCK_TICKS_PER_SECOND;
  };
  return {
    pid,
    port,
    stderr: () => stderr,
    get alive() {
      return alive;
    },
    rss: () => rssBytes(pid),
    cpuMs,
    sampleRss: () => {
      let peak = rssBytes(pid);
      const timer = setInterval(() => peak = Math.max(peak, rssBytes(pid)), 50);
      return {
        stop: () => {
          clearInterval(timer);
          return Math.max(peak, rssBytes(pid));
        },
      };
    },
    [Symbol.asyncDispose]: async () => {
      if (alive) process.kill(pid, "SIGTERM");
      await exited;
    },
  };
}
