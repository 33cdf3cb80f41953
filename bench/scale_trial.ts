/**
 * One point of the scale workload: a fresh server, N idle authenticated
 * sessions opened and held by one client process, then handshakes at c=1 and
 * execs on one connection from other client processes, each measured on its
 * own (server CPU and context switches), and the server's memory per held
 * session and CPU while they idle.
 *
 * @module
 */

import { BENCH_PASSWORD, type BenchEnvironment } from "./bootstrap.ts";
import { contextSwitches, treeCpuSeconds, treeMemory } from "./process_tree.ts";
import type { RunningServer, ServerKind } from "./servers.ts";
import { ClientProcess, settledCpu, sleep, TRIAL_TIMEOUT_MS, type TrialResult } from "./trial.ts";
import type { Workload } from "./workloads.ts";

/** Descriptors a process needs besides one per held session. */
const FD_HEADROOM = 1024;
/** Opening 10,000 sessions on a loaded 2-core machine takes minutes. */
const HOLD_TIMEOUT_MS = 15 * 60_000;
/** Handshakes the holder runs at once while opening its sessions. */
const HOLD_CONCURRENCY = 16;

/** The hard limit on open files of this process (what an unprivileged process may raise its soft limit to). */
function hardFdLimit(): number {
  const limits = Deno.readTextFileSync("/proc/self/limits");
  const hard = /^Max open files\s+\S+\s+(\S+)/m.exec(limits)?.[1];
  return hard === undefined || hard === "unlimited" ? 1 << 20 : Number(hard);
}

interface Measured {
  ops: number;
  cpuSeconds: number;
  switches: number;
}

/** Runs one measuring client against the server and samples the server exactly around its work. */
async function measure(
  server: RunningServer,
  options: Record<string, unknown>,
  timeoutMs: number,
): Promise<Measured> {
  const client = new ClientProcess({
    ...options,
    port: server.port,
    username: server.username,
    password: BENCH_PASSWORD,
  }, timeoutMs);
  try {
    await client.next("ready");
    const cpuBefore = await settledCpu(server.pid);
    const switchesBefore = server.serverPid ? contextSwitches(server.serverPid) : 0;
    await client.send("go");
    const done = await client.next("done");
    const cpuAfter = await settledCpu(server.pid);
    const switchesAfter = server.serverPid ? contextSwitches(server.serverPid) : 0;
    return { ops: done.ops ?? 0, cpuSeconds: cpuAfter - cpuBefore, switches: switchesAfter - switchesBefore };
  } finally {
    await client.stop();
  }
}

/** Runs one scale point against a fresh server; never throws (a failure is a result). */
export async function runScaleTrial(
  kind: ServerKind,
  workload: Workload,
  environment: BenchEnvironment,
  quick: boolean,
  repetition: number,
): Promise<TrialResult> {
  const spec = workload.scale!;
  const held = spec.held(quick);
  const base = { server: kind.name, workload: workload.name, repetition };
  // Raising the hard limit needs privileges; without them the hard limit is what there is.
  const fdLimit = Math.max(hardFdLimit(), held + FD_HEADROOM);
  let server: RunningServer;
  try {
    server = await kind.start(environment, { fdLimit });
  } catch (error) {
    return { ...base, ok: false, error: `server did not start: ${(error as Error).message}` };
  }
  const timeoutMs = quick ? TRIAL_TIMEOUT_MS.quick : TRIAL_TIMEOUT_MS.full;
  const holder = new ClientProcess(
    {
      workload: "hold",
      count: held,
      concurrency: HOLD_CONCURRENCY,
      port: server.port,
      username: server.username,
      password: BENCH_PASSWORD,
    },
    HOLD_TIMEOUT_MS,
    fdLimit,
  );
  try {
    await holder.next("ready");
    await holder.send("go");
    const half = await holder.next("half");
    await settledCpu(server.pid);
    const memoryHalf = treeMemory(server.pid, server.executable);
    await holder.send("continue");
    const holding = await holder.next("holding");
    const cpuHeld = await settledCpu(server.pid);
    const memoryHeld = treeMemory(server.pid, server.executable);
    const idleSeconds = workload.idleSeconds!(quick);
    await sleep(idleSeconds * 1000);
    const idleCpuSeconds = treeCpuSeconds(server.pid) - cpuHeld;
    const handshakes = await measure(
      server,
      { workload: "handshake", count: spec.handshakes(quick), concurrency: 1 },
      timeoutMs,
    );
    const execs = await measure(server, { workload: "exec", count: spec.execs(quick) }, timeoutMs);
    await holder.send("release");
    await holder.next("done");
    const added = (holding.count ?? 0) - (half.count ?? 0);
    return {
      ...base,
      ok: true,
      held: holding.count,
      pssPerSessionKb: added > 0 ? (memoryHeld.serverKb - memoryHalf.serverKb) / added : undefined,
      idleCpuSeconds,
      idleSeconds,
      handshakes: handshakes.ops,
      handshakeCpuSeconds: handshakes.cpuSeconds,
      handshakeSwitches: handshakes.switches,
      execs: execs.ops,
      execCpuSeconds: execs.cpuSeconds,
      execSwitches: execs.switches,
    };
  } catch (error) {
    return { ...base, ok: false, error: (error as Error).message };
  } finally {
    await holder.stop();
    await server.stop();
  }
}
