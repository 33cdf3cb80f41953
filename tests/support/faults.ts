/**
 * Fault injection: real clients (OpenSSH `ssh`/`sftp` under `sshpass`, and the
 * npm `ssh2` client in `ssh2_workload.mjs`) start a workload — a command
 * streaming stdin back, direct-tcpip to an echo server (`ssh -W`, `forwardOut`),
 * reverse forwarding (`ssh -R 0`, `forwardIn`) with traffic through the
 * server's port, or SFTP transfers — and are SIGKILLed, by PID, at a random
 * moment: a third within the first 60 ms (key exchange, auth), the rest while
 * the work runs. Commands carry a marker (`sleep 600.<marker> & cat`) so that
 * any process they leave behind can be found afterwards.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TimelineEntry } from "../../src/demo/mod.ts";
import { childProcesses } from "./census.ts";
import { SSH_OPTIONS } from "./clients.ts";
import { caseSeed, Random } from "./fuzz.ts";

/** What a killed client was doing. */
export const FAULT_WORKLOADS = ["exec", "direct-forward", "reverse-forward", "sftp"] as const;
/** One workload of a fault. */
export type FaultWorkload = typeof FAULT_WORKLOADS[number];

/** Options of `injectFaults`. */
export interface FaultOptions {
  /** The server (on 127.0.0.1). */
  port: number;
  password: string;
  /** A TCP echo server on 127.0.0.1, the target of direct forwarding and reverse forwarding. */
  echoPort: number;
  /** Clients to kill. */
  count: number;
  /** Clients alive at once. Default 8. */
  concurrency?: number;
  seed?: number;
  /** Digits only: commands run `sleep 600.<marker> & cat`, so leftovers show in the process table. */
  marker: string;
  /** A scratch directory (SFTP files). */
  dir: string;
  /** The latest kill, in milliseconds after the client started. Default 1500. */
  maxDelayMs?: number;
}

/** What `injectFaults` did. */
export interface FaultReport {
  seed: number;
  /** Clients SIGKILLed. */
  faults: number;
  byWorkload: Record<FaultWorkload, number>;
  byClient: { openssh: number; ssh2: number };
  /** Kills within 60 ms of the start. */
  earlyKills: number;
  durationMs: number;
}

const SSH2_WORKLOAD = fileURLToPath(new URL("./ssh2_workload.mjs", import.meta.url));
const EARLY_MS = 60;

/** The ssh options of a fault client: like the tests', but INFO logs so `ssh -R 0` tells its port. */
function opensshOptions(): string[] {
  return [
    ...SSH_OPTIONS.map((option) => option === "LogLevel=ERROR" ? "LogLevel=INFO" : option),
    "-o",
    "PreferredAuthentications=password",
    "-o",
    "PubkeyAuthentication=no",
  ];
}

function startOpenssh(
  options: FaultOptions,
  workload: FaultWorkload,
  command: string,
  bigFile: string,
): ChildProcess {
  const ssh = (extra: string[], remoteCommand?: string): ChildProcess =>
    spawn("sshpass", [
      "-p",
      options.password,
      "ssh",
      "-p",
      String(options.port),
      ...opensshOptions(),
      ...extra,
      "tester@127.0.0.1",
      ...(remoteCommand ? [remoteCommand] : []),
    ], { stdio: ["pipe", "pipe", "pipe"] });
  switch (workload) {
    case "exec":
      return ssh([], command);
    case "direct-forward":
      return ssh(["-W", `127.0.0.1:${options.echoPort}`]);
    case "reverse-forward":
      return ssh(
        ["-o", "ExitOnForwardFailure=yes", "-R", `0:127.0.0.1:${options.echoPort}`],
        `sleep 600.${options.marker}`,
      );
    case "sftp": {
      const child = spawn("sshpass", [
        "-p",
        options.password,
        "sftp",
        "-P",
        String(options.port),
        ...opensshOptions(),
        "tester@127.0.0.1",
      ], { stdio: ["pipe", "pipe", "pipe"] });
      // Commands on stdin (sftp -b would force BatchMode and refuse passwords).
      child.stdin!.end(`get ${bigFile} /dev/null\n`.repeat(50));
      return child;
    }
  }
}

/** Keeps writing to `target` until it fails (the client was killed). */
function pump(target: NodeJS.WritableStream | Socket): void {
  const chunk = new Uint8Array(16 * 1024);
  const timer = setInterval(() => {
    try {
      target.write(chunk);
    } catch {
      clearInterval(timer);
    }
  }, 5);
  target.on("error", () => clearInterval(timer));
  target.on("close", () => clearInterval(timer));
}

/** Connects to the port `ssh -R 0` got, once it tells it, and pumps data through it. */
function driveReverseForward(child: ChildProcess, sockets: Set<Socket>): void {
  let text = "";
  child.stderr!.on("data", (data) => {
    const before = text;
    text += String(data);
    const match = text.match(/Allocated port (\d+)/);
    if (!match || before.match(/Allocated port (\d+)/)) return;
    const socket = connect(Number(match[1]), "127.0.0.1");
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    socket.resume();
    pump(socket);
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("close", () => resolve());
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** SIGKILLs `ssh`/`sftp` under `sshpass` (by PID; sshpass then exits), or the client itself. */
async function killClient(child: ChildProcess, underSshpass: boolean): Promise<void> {
  const end = exited(child);
  if (underSshpass) {
    // sshpass forks the client at once; wait for it to be there, then kill it.
    for (let i = 0; i < 200 && child.exitCode === null; i++) {
      const clients = childProcesses(child.pid!).filter((entry) => entry.state !== "Z");
      if (clients.length > 0) {
        for (const client of clients) {
          try {
            process.kill(client.pid, "SIGKILL");
          } catch { /* ended meanwhile */ }
        }
        break;
      }
      await sleep(2);
    }
    if (await Promise.race([end.then(() => true), sleep(3000).then(() => false)])) return;
  }
  try {
    process.kill(child.pid!, "SIGKILL");
  } catch { /* ended meanwhile */ }
  await end;
}

/** Starts `count` clients, `concurrency` at a time, and SIGKILLs each at a random moment. */
export async function injectFaults(options: FaultOptions): Promise<FaultReport> {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
  const maxDelay = options.maxDelayMs ?? 1500;
  const bigFile = join(options.dir, "fault-sftp-source.bin");
  writeFileSync(bigFile, new Uint8Array(8 * 1024 * 1024));
  const command = `sleep 600.${options.marker} & cat`;
  const report: FaultReport = {
    seed,
    faults: 0,
    byWorkload: { exec: 0, "direct-forward": 0, "reverse-forward": 0, sftp: 0 },
    byClient: { openssh: 0, ssh2: 0 },
    earlyKills: 0,
    durationMs: 0,
  };
  const sockets = new Set<Socket>();
  const started = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < options.count) {
      const index = next++;
      const random = new Random(caseSeed(seed, index));
      const workload = FAULT_WORKLOADS[index % FAULT_WORKLOADS.length];
      const openssh = random.chance(0.5);
      const delay = random.chance(1 / 3)
        ? random.below(EARLY_MS)
        : EARLY_MS + random.below(maxDelay - EARLY_MS);
      const child = openssh ? startOpenssh(options, workload, command, bigFile) : spawn("node", [
        SSH2_WORKLOAD,
        JSON.stringify({
          mode: "fault",
          workload,
          port: options.port,
          password: options.password,
          echoPort: options.echoPort,
          dir: options.dir,
          command,
        }),
      ], { stdio: ["pipe", "pipe", "pipe"] });
      child.on("error", () => {});
      child.stdout!.resume();
      child.stderr!.resume();
      child.stdin!.on("error", () => {});
      if (openssh && (workload === "exec" || workload === "direct-forward")) pump(child.stdin!);
      if (openssh && workload === "reverse-forward") driveReverseForward(child, sockets);
      await sleep(delay);
      await killClient(child, openssh);
      report.faults++;
      report.byWorkload[workload]++;
      report.byClient[openssh ? "openssh" : "ssh2"]++;
      if (delay < EARLY_MS) report.earlyKills++;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker));
  for (const socket of sockets) socket.destroy();
  report.durationMs = Math.round(performance.now() - started);
  return report;
}

/**
 * How far each of `clients` (DemoServer client numbers) got before it went
 * away, from the server's timeline: `kex`, `auth`, `logged-in`, `exec`,
 * `sftp`, `direct-forward` or `reverse-forward`. Counts per stage.
 */
export function stagesReached(
  timeline: readonly TimelineEntry[],
  clients: Set<number>,
): Record<string, number> {
  const rank = ["kex", "auth", "logged-in", "exec", "sftp", "direct-forward", "reverse-forward"];
  const reached = new Map<number, number>();
  for (const entry of timeline) {
    if (!clients.has(entry.client)) continue;
    const stage = entry.event === "kex-done"
      ? "auth"
      : entry.event === "auth-success"
      ? "logged-in"
      : entry.event === "exec"
      ? (String(entry.data.command).startsWith("subsystem:") ? "sftp" : "exec")
      : entry.event === "forward-open"
      ? "direct-forward"
      : entry.event === "reverse-forward"
      ? "reverse-forward"
      : "kex";
    reached.set(entry.client, Math.max(reached.get(entry.client) ?? 0, rank.indexOf(stage)));
  }
  const counts: Record<string, number> = {};
  for (const client of clients) {
    const stage = rank[reached.get(client) ?? 0];
    counts[stage] = (counts[stage] ?? 0) + 1;
  }
  return counts;
}
