/**
 * One trial: a fresh server, one workload from the client process, and the
 * server's CPU and memory sampled exactly around the measured part.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { BENCH_PASSWORD, type BenchEnvironment } from "./bootstrap.ts";
import { LineReader } from "./line_reader.ts";
import { treeCpuSeconds, treeMemory } from "./process_tree.ts";
import { type ServerKind, withFdLimit } from "./servers.ts";
import { withTimeout } from "./with_timeout.ts";
import type { Workload } from "./workloads.ts";

const CLIENT = fileURLToPath(new URL("./load_client.mjs", import.meta.url));
/** A trial that takes longer than this is stuck (a full bulk trial takes well under a minute). */
export const TRIAL_TIMEOUT_MS = { quick: 60_000, full: 5 * 60_000 };

/** What one trial measured. Figures absent when the trial failed or do not apply. */
export interface TrialResult {
  server: string;
  workload: string;
  repetition: number;
  ok: boolean;
  error?: string;
  /** Operations done (handshakes, execs) or sessions held (idle). */
  ops?: number;
  /** Wall time of the measured part, as the client saw it. */
  seconds?: number;
  p50Ms?: number;
  p99Ms?: number;
  bytes?: number;
  /** user + sys of the server's whole process tree during the measured part. */
  serverCpuSeconds?: number;
  /**
   * Idle only: server PSS added per session between half and all sessions up
   * (server processes / whole tree incl. commands): one-time costs cancel out.
   */
  pssPerSessionKb?: number;
  treePssPerSessionKb?: number;
  /** Idle only: the same from before the first session (one-time costs included). */
  pssPerSessionFromStartKb?: number;
  /** Idle and scale: server tree CPU while the sessions were idle, and for how long. */
  idleCpuSeconds?: number;
  idleSeconds?: number;
  /** Scale only: sessions held meanwhile, and per measured part its count, server CPU and context switches. */
  held?: number;
  handshakes?: number;
  handshakeCpuSeconds?: number;
  handshakeSwitches?: number;
  execs?: number;
  execCpuSeconds?: number;
  execSwitches?: number;
}

/** One line from the client. */
export interface ClientEvent {
  event: "ready" | "half" | "holding" | "done";
  count?: number;
  ok?: boolean;
  error?: string;
  ops?: number;
  seconds?: number;
  p50Ms?: number;
  p99Ms?: number;
  bytes?: number;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until the server tree has stopped using CPU (no tick for 300 ms, at
 * most 5 s), so that work left over from before is not counted, and work
 * finishing just after the client is done is.
 */
export async function settledCpu(pid: number): Promise<number> {
  let last = treeCpuSeconds(pid);
  let quiet = 0;
  for (let waited = 0; waited < 5000 && quiet < 3; waited += 100) {
    await sleep(100);
    const now = treeCpuSeconds(pid);
    quiet = now === last ? quiet + 1 : 0;
    last = now;
  }
  return last;
}

/** A `load_client.mjs` process, driven line by line. */
export class ClientProcess {
  readonly #child: Deno.ChildProcess;
  readonly #stdout: LineReader;
  readonly #stderr: LineReader;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;

  readonly #timeoutMs: number;

  constructor(options: Record<string, unknown>, timeoutMs: number, fdLimit?: number) {
    this.#timeoutMs = timeoutMs;
    const [command, args] = withFdLimit("node", [CLIENT, JSON.stringify(options)], fdLimit);
    this.#child = new Deno.Command(command, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdout = new LineReader(this.#child.stdout);
    this.#stderr = new LineReader(this.#child.stderr);
    this.#stdin = this.#child.stdin.getWriter();
  }

  async next(expected: ClientEvent["event"]): Promise<ClientEvent> {
    const line = await withTimeout(this.#stdout.next(), this.#timeoutMs, `client waiting for ${expected}`);
    if (line === undefined) throw new Error(`the client ended early: ${this.#stderr.tail.trim()}`);
    const event = JSON.parse(line) as ClientEvent;
    if (event.event === "done" && event.ok === false) throw new Error(event.error);
    if (event.event !== expected) throw new Error(`the client said ${line}, expected ${expected}`);
    return event;
  }

  async send(word: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(`${word}\n`));
  }

  async stop(): Promise<void> {
    await this.#stdin.close().catch(() => {});
    const exited = await Promise.race([
      this.#child.status.then(() => true),
      sleep(5000).then(() => false),
    ]);
    if (!exited) {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* gone */ }
      await this.#child.status;
    }
  }
}

/** Runs one workload against a fresh server; never throws (a failure is a result). */
export async function runTrial(
  kind: ServerKind,
  workload: Workload,
  environment: BenchEnvironment,
  quick: boolean,
  repetition: number,
): Promise<TrialResult> {
  const base = { server: kind.name, workload: workload.name, repetition };
  let server;
  try {
    server = await kind.start(environment);
  } catch (error) {
    return { ...base, ok: false, error: `server did not start: ${(error as Error).message}` };
  }
  const client = new ClientProcess({
    ...workload.clientOptions(quick),
    port: server.port,
    username: server.username,
    password: BENCH_PASSWORD,
  }, quick ? TRIAL_TIMEOUT_MS.quick : TRIAL_TIMEOUT_MS.full);
  try {
    await client.next("ready");
    const memoryBefore = workload.kind === "idle" ? treeMemory(server.pid, server.executable) : undefined;
    const cpuBefore = await settledCpu(server.pid);
    await client.send("go");
    if (workload.kind === "idle") {
      const half = await client.next("half");
      await settledCpu(server.pid);
      const memoryHalf = treeMemory(server.pid, server.executable);
      await client.send("continue");
      const holding = await client.next("holding");
      const cpuHeld = await settledCpu(server.pid);
      const memoryHeld = treeMemory(server.pid, server.executable);
      const idleSeconds = workload.idleSeconds!(quick);
      await sleep(idleSeconds * 1000);
      const cpuAfterIdle = treeCpuSeconds(server.pid);
      await client.send("release");
      await client.next("done");
      const sessions = holding.count ?? 0;
      const added = sessions - (half.count ?? 0);
      return {
        ...base,
        ok: true,
        ops: sessions,
        serverCpuSeconds: cpuHeld - cpuBefore,
        pssPerSessionKb: (memoryHeld.serverKb - memoryHalf.serverKb) / added,
        treePssPerSessionKb: (memoryHeld.totalKb - memoryHalf.totalKb) / added,
        pssPerSessionFromStartKb: (memoryHeld.serverKb - memoryBefore!.serverKb) / sessions,
        idleCpuSeconds: cpuAfterIdle - cpuHeld,
        idleSeconds,
      };
    }
    const done = await client.next("done");
    const cpuAfter = await settledCpu(server.pid);
    return {
      ...base,
      ok: true,
      ops: done.ops,
      seconds: done.seconds,
      p50Ms: done.p50Ms,
      p99Ms: done.p99Ms,
      bytes: done.bytes,
      serverCpuSeconds: cpuAfter - cpuBefore,
    };
  } catch (error) {
    return { ...base, ok: false, error: (error as Error).message };
  } finally {
    await client.stop();
    await server.stop();
  }
}
