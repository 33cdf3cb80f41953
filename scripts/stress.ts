/**
 * The reliability run (`deno task stress`): hostile input, faults and load
 * against an in-process DemoServer, then the Node build under valgrind. Prints
 * the figures and writes them to `bench/results/stress.json`; exits 1 when
 * anything was lost, leaked or corrupted.
 *
 *   deno task stress [--fuzz-cases 100000] [--faults 500] [--logins 20000]
 *     [--sessions 200] [--rounds 5] [--size 262144] [--seed N]
 *     [--only fuzz,faults,load,valgrind] [--skip-valgrind]
 *
 * Phases:
 * - fuzz: random bytes, random packets and mutated recorded handshakes
 *   (`tests/support/fuzz.ts`), 16 at a time, while a healthy client keeps
 *   moving 5 MB per exec checked by sha256; then a login must work.
 * - faults: OpenSSH and ssh2 clients SIGKILLed mid-kex, -auth, -exec,
 *   -forward (both ways), -sftp (`tests/support/faults.ts`).
 * - load: sequential logins (after half as many, which take V8's heap and the
 *   allocators to their working size: RSS must end within 32 MiB of that settled
 *   baseline), then concurrent sessions with mixed workloads
 *   (exec through `cat`, direct-tcpip to an echo server, reverse forwarding,
 *   sftp), every transfer checked by sha256 (`tests/support/ssh2_workload.mjs`).
 * - valgrind: the npm build's DemoServer CLI under `valgrind --error-exitcode=1`
 *   serving OpenSSH logins, execs, both forwardings and sftp.
 *
 * After each phase the server process's descriptors, children, zombies,
 * listening ports and RSS (after a full GC: run with --v8-flags=--expose-gc)
 * are compared with the baseline taken after a warm-up login.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DemoServer, type TimelineEntry } from "../src/demo/mod.ts";
import {
  type Census,
  mebibytes,
  processesMatching,
  rssBytes,
  settledCensus,
  takeCensus,
} from "../tests/support/census.ts";
import { run, SSH_OPTIONS, sshpassArgs, sshWithPassword } from "../tests/support/clients.ts";
import { startEchoServer } from "../tests/support/echo_server.ts";
import { injectFaults, stagesReached } from "../tests/support/faults.ts";
import { fuzz } from "../tests/support/fuzz.ts";
import { startHealthyTraffic } from "../tests/support/healthy_traffic.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const RESULTS = join(ROOT, "bench/results/stress.json");
const SSH2_WORKLOAD = join(ROOT, "tests/support/ssh2_workload.mjs");
/** Slack on descriptors after a phase (runtime internals may open one or two lazily). */
const FD_SLACK = 2;
/**
 * RSS a phase may keep after a full GC: a fixed part (malloc keeps the arenas
 * the peak needed; V8 keeps heap pages) plus a little per connection (the
 * DemoServer keeps its timeline and client list, by design: tests read them).
 * A leaked native session (tens of KB, see the valgrind phase for leaks
 * proper) over 100,000 connections would be gigabytes.
 */
const RSS_FIXED_SLACK_BYTES = 128 * 1024 * 1024;
const RSS_SLACK_PER_CONNECTION_BYTES = 4096;
/** What sequential logins may leave on top of the settled baseline: the server keeps no per-login state. */
const LOGINS_RSS_SLACK_BYTES = 32 * 1024 * 1024;

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    "fuzz-cases": { type: "string", default: "100000" },
    faults: { type: "string", default: "500" },
    logins: { type: "string", default: "20000" },
    sessions: { type: "string", default: "200" },
    rounds: { type: "string", default: "5" },
    size: { type: "string", default: String(256 * 1024) },
    seed: { type: "string" },
    only: { type: "string", default: "fuzz,faults,load,valgrind" },
    "skip-valgrind": { type: "boolean", default: false },
  },
  strict: true,
});
const phases = new Set(values.only.split(","));
if (values["skip-valgrind"]) phases.delete("valgrind");
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : Number(values.seed);
const problems: string[] = [];
const summary: Record<string, unknown> = { seed, startedAt: new Date().toISOString() };
const log = (text: string): void => console.error(`stress: ${text}`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Descriptors, children, zombies, ports and RSS before → after, and what is wrong with them. */
function compare(before: Census, after: Census, phase: string, connections: number): Record<string, unknown> {
  if (Math.abs(after.fds - before.fds) > FD_SLACK) {
    problems.push(`${phase}: fds ${before.fds} -> ${after.fds}`);
  }
  if (after.children !== before.children) {
    problems.push(`${phase}: child processes ${before.children} -> ${after.children}`);
  }
  if (after.zombies.length > 0) problems.push(`${phase}: zombies ${after.zombies.join(" ")}`);
  if (after.listeningPorts.join() !== before.listeningPorts.join()) {
    problems.push(`${phase}: listening ports ${before.listeningPorts} -> ${after.listeningPorts}`);
  }
  const rssLimit = RSS_FIXED_SLACK_BYTES + RSS_SLACK_PER_CONNECTION_BYTES * connections;
  if (after.rssBytes - before.rssBytes > rssLimit) {
    problems.push(
      `${phase}: RSS ${mebibytes(before.rssBytes)} -> ${mebibytes(after.rssBytes)} MiB (limit +${
        mebibytes(rssLimit)
      })`,
    );
  }
  return {
    fds: { before: before.fds, after: after.fds },
    children: { before: before.children, after: after.children },
    zombies: after.zombies.length,
    listeningPorts: { before: before.listeningPorts.length, after: after.listeningPorts.length },
    rssMiB: {
      before: mebibytes(before.rssBytes),
      after: mebibytes(after.rssBytes),
      limitGrowth: mebibytes(rssLimit),
    },
    connections,
  };
}

function settled(before: Census, extra: () => boolean = () => true): Promise<Census> {
  return settledCensus(
    (census) =>
      census.fds <= before.fds + FD_SLACK && census.children <= before.children &&
      census.zombies.length === 0 &&
      census.listeningPorts.join() === before.listeningPorts.join() && extra(),
    { timeoutMs: 20_000 },
  );
}

/** Samples this process's RSS every 250 ms until stopped; resolves with the peak. */
function rssPeak(): { stop: () => number } {
  let peak = rssBytes();
  const timer = setInterval(() => peak = Math.max(peak, rssBytes()), 250);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, rssBytes());
    },
  };
}

/** The id the next client of `ds` will get. */
const nextClientId = (): number => (ds.clients.at(-1)?.id ?? 0) + 1;

/**
 * Hands every new timeline entry to `onEntry`, also those the timeline drops
 * later (it keeps the latest `timelineLimit`): scans every 100 ms.
 */
function watchTimeline(onEntry: (entry: TimelineEntry) => void): { stop(): void } {
  let seen = ds.timelineDropped + ds.timeline.length;
  const scan = (): void => {
    const dropped = ds.timelineDropped;
    const end = dropped + ds.timeline.length;
    if (seen < dropped) {
      problems.push(`the timeline dropped ${dropped - seen} entries before they were counted`);
      seen = dropped;
    }
    for (; seen < end; seen++) onEntry(ds.timeline[seen - dropped]);
  };
  const timer = setInterval(scan, 100);
  return {
    stop: () => {
      clearInterval(timer);
      scan();
    },
  };
}

async function loginStillWorks(port: number, phase: string): Promise<void> {
  const login = await sshWithPassword(port, "foo", "echo still-serving");
  if (login.stdout !== "still-serving\n") problems.push(`${phase}: the login after failed: ${login.stderr}`);
}

/** Runs the ssh2 workload script; resolves with its last JSON line. */
async function ssh2Workload(
  options: Record<string, unknown>,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const result = await run("node", [SSH2_WORKLOAD, JSON.stringify(options)], { timeoutMs });
  try {
    return JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "");
  } catch {
    return {
      ok: false,
      error: `no result (${result.code ?? result.signal}): ${result.stderr.slice(0, 500)}`,
    };
  }
}

const dir = mkdtempSync(join(tmpdir(), "stress-"));
const started = performance.now();
const echo = await startEchoServer();
const ds = await DemoServer.start({ cwd: dir });
try {
  await loginStillWorks(ds.port, "warm-up");
  const baseline = takeCensus();
  summary.baseline = { fds: baseline.fds, rssMiB: mebibytes(baseline.rssBytes) };
  log(`server on port ${ds.port}, baseline ${baseline.fds} fds, RSS ${mebibytes(baseline.rssBytes)} MiB`);

  if (phases.has("fuzz")) {
    const cases = Number(values["fuzz-cases"]);
    log(`fuzz: ${cases} cases, seed ${seed}`);
    const before = takeCensus();
    const firstClient = nextClientId();
    let kexDone = 0;
    const watcher = watchTimeline((entry) => {
      if (entry.event === "kex-done" && entry.client >= firstClient) kexDone++;
    });
    const traffic = startHealthyTraffic(ds.port, "foo");
    // Start fuzzing once the healthy transfer runs, so that they overlap.
    for (let i = 0; i < 200 && !ds.timeline.some((e) => e.event === "exec" && e.client >= firstClient); i++) {
      await sleep(25);
    }
    const peak = rssPeak();
    const report = await fuzz({
      port: ds.port,
      cases,
      seed,
      handshake: new Uint8Array(readFileSync(join(ROOT, "tests/fixtures/ssh2_handshake.bin"))),
      onProgress: (done) => done % 10_000 === 0 && log(`fuzz: ${done} cases`),
    });
    const healthy = await traffic.stop();
    const peakRss = peak.stop();
    await loginStillWorks(ds.port, "fuzz");
    watcher.stop();
    const fuzzed = nextClientId() - firstClient;
    const after = await settled(before);
    if (report.failures.length > 0) {
      problems.push(`fuzz: ${report.failures.length} failed cases (seed ${seed})`);
    }
    if (healthy.failures.length > 0) problems.push(`fuzz: healthy transfers failed: ${healthy.failures}`);
    summary.fuzz = {
      ...report,
      failures: report.failures.slice(0, 20),
      failedCases: report.failures.length,
      connectionsSeenByServer: fuzzed,
      keyExchangesCompleted: kexDone - healthy.transfers - 1,
      healthy,
      peakRssMiB: mebibytes(peakRss),
      ...compare(before, after, "fuzz", fuzzed),
    };
    log(`fuzz: ${JSON.stringify(summary.fuzz)}`);
  }

  if (phases.has("faults")) {
    const count = Number(values.faults);
    log(`faults: ${count} clients killed`);
    const before = takeCensus();
    const firstClient = nextClientId();
    const entries: TimelineEntry[] = [];
    const watcher = watchTimeline((entry) => {
      if (entry.client >= firstClient) entries.push(entry);
    });
    const marker = String(seed % 1_000_000) + String(process.pid);
    const report = await injectFaults({
      port: ds.port,
      password: "foo",
      echoPort: echo.port,
      count,
      seed,
      marker,
      dir,
    });
    watcher.stop();
    const faulted = new Set(Array.from({ length: nextClientId() - firstClient }, (_, i) => firstClient + i));
    const stages = stagesReached(entries, faulted);
    const after = await settled(before, () => processesMatching(marker).length === 0);
    const leftovers = processesMatching(marker);
    if (leftovers.length > 0) problems.push(`faults: ${leftovers.length} processes outlived their clients`);
    await loginStillWorks(ds.port, "faults");
    summary.faults = {
      ...report,
      stagesReached: stages,
      leftoverProcesses: leftovers.length,
      ...compare(before, after, "faults", faulted.size),
    };
    log(`faults: ${JSON.stringify(summary.faults)}`);
  }

  if (phases.has("load")) {
    const logins = Number(values.logins);
    const sessions = Number(values.sessions);
    const before = takeCensus();
    const firstClient = nextClientId();
    const settling = Math.ceil(logins / 2);
    log(`load: ${settling} sequential logins to settle, then ${logins}`);
    const settle = await ssh2Workload(
      { mode: "logins", count: settling, port: ds.port, password: "foo" },
      3_600_000,
    );
    if (settle.ok !== true) problems.push(`load: logins failed: ${JSON.stringify(settle)}`);
    await sleep(1000);
    const loginsBaseline = takeCensus();
    let peak = rssPeak();
    const loginsStarted = performance.now();
    const sequential = await ssh2Workload(
      { mode: "logins", count: logins, port: ds.port, password: "foo" },
      3_600_000,
    );
    const loginsPeak = peak.stop();
    const loginsMs = Math.round(performance.now() - loginsStarted);
    await sleep(1000);
    const afterLogins = takeCensus();
    const loginsGrowth = afterLogins.rssBytes - loginsBaseline.rssBytes;
    if (sequential.ok !== true) problems.push(`load: logins failed: ${JSON.stringify(sequential)}`);
    if (loginsGrowth > LOGINS_RSS_SLACK_BYTES) {
      problems.push(
        `load: ${logins} logins took RSS from ${mebibytes(loginsBaseline.rssBytes)} to ${
          mebibytes(afterLogins.rssBytes)
        } MiB (limit +${mebibytes(LOGINS_RSS_SLACK_BYTES)})`,
      );
    }
    log(
      `load: ${JSON.stringify(sequential)}; RSS ${mebibytes(loginsBaseline.rssBytes)} -> ${
        mebibytes(afterLogins.rssBytes)
      } MiB`,
    );

    log(`load: ${sessions} concurrent sessions × ${values.rounds} rounds of ${values.size} bytes`);
    const loadDir = join(dir, "sftp");
    mkdirSync(loadDir);
    peak = rssPeak();
    // Two client processes, so that the clients' side is not one event loop.
    const drivers = await Promise.all([0, 1].map((i) =>
      ssh2Workload({
        mode: "load",
        port: ds.port,
        password: "foo",
        echoPort: echo.port,
        sessions: Math.floor(sessions / 2) + (i === 0 ? sessions % 2 : 0),
        rounds: Number(values.rounds),
        size: Number(values.size),
        dir: loadDir,
      }, 3_600_000)
    ));
    const concurrentPeak = peak.stop();
    const total = (key: string): number => drivers.reduce((sum, d) => sum + Number(d[key] ?? 0), 0);
    const concurrent = {
      sessions,
      operations: total("operations"),
      failedOperations: total("failedOperations"),
      corrupted: total("corrupted"),
      bytes: total("bytes"),
      byWorkload: drivers.map((d) => d.byWorkload),
      failures: drivers.flatMap((d) => (d.failures as string[] | undefined) ?? [String(d.error)]).slice(
        0,
        20,
      ),
      durationMs: Math.max(...drivers.map((d) => Number(d.durationMs ?? 0))),
    };
    if (drivers.some((d) => d.ok !== true)) {
      problems.push(`load: concurrent sessions failed: ${concurrent.failures}`);
    }
    await loginStillWorks(ds.port, "load");
    const after = await settled(before);
    summary.load = {
      sequentialLogins: {
        ...sequential,
        durationMs: loginsMs,
        peakRssMiB: mebibytes(loginsPeak),
        settledRssMiB: mebibytes(loginsBaseline.rssBytes),
        afterRssMiB: mebibytes(afterLogins.rssBytes),
        limitGrowthMiB: mebibytes(LOGINS_RSS_SLACK_BYTES),
      },
      concurrent: { ...concurrent, peakRssMiB: mebibytes(concurrentPeak) },
      ...compare(before, after, "load", nextClientId() - firstClient),
    };
    log(`load: ${JSON.stringify(summary.load)}`);
  }

  summary.server = {
    clients: nextClientId() - 1,
    timelineEntries: ds.timeline.length,
    timelineDropped: ds.timelineDropped,
  };
} finally {
  await ds.close();
  await echo[Symbol.asyncDispose]();
}

if (phases.has("valgrind")) summary.valgrind = await valgrindRun();

/** The npm build's DemoServer CLI under valgrind, serving OpenSSH and ssh2 clients. */
async function valgrindRun(): Promise<Record<string, unknown>> {
  const startedAt = performance.now();
  log("valgrind: building the npm package");
  const build = await run(process.execPath, ["run", "-A", join(ROOT, "scripts/build_npm.ts")], {
    timeoutMs: 300_000,
  });
  if (build.code !== 0) {
    problems.push(`valgrind: npm build failed: ${build.stderr}`);
    return { ok: false };
  }
  const logFile = join(dir, "valgrind.log");
  const server = spawn("valgrind", [
    "--error-exitcode=1",
    "--leak-check=no", // V8's heap is not malloc'd: leak reports would be noise
    "--smc-check=all-non-file", // V8 writes machine code at run time
    `--log-file=${logFile}`,
    "node",
    join(ROOT, "npm/src/demo/cli.js"),
  ], { stdio: ["ignore", "pipe", "pipe"], cwd: dir });
  const exited = new Promise<number | null>((resolve) => server.on("close", (code) => resolve(code)));
  let output = "";
  server.stderr!.resume();
  const port = await new Promise<number>((resolve) => {
    server.stdout!.on("data", (data) => {
      output += String(data);
      const match = output.match(/"port":(\d+)/);
      if (match) resolve(Number(match[1]));
    });
    setTimeout(() => resolve(0), 300_000);
  });
  const checks: Record<string, boolean> = {};
  await using valgrindEcho = await startEchoServer();
  if (port > 0) {
    log(`valgrind: server up after ${Math.round(performance.now() - startedAt)} ms on port ${port}`);
    const data = randomBytes(1_000_000);
    const digest = createHash("sha256").update(data).digest("hex");
    const input = join(dir, "valgrind-input.bin");
    writeFileSync(input, data);
    for (let i = 0; i < 3; i++) {
      const exec = await run("sshpass", sshpassArgs(port, "foo", "sha256sum"), {
        input: data,
        timeoutMs: 120_000,
      });
      checks[`exec ${i}`] = exec.stdout.startsWith(digest);
    }
    const text = data.toString("hex");
    const direct = await run(
      "sshpass",
      sshpassArgs(port, "foo", "", ["-W", `127.0.0.1:${valgrindEcho.port}`]),
      {
        input: text,
        timeoutMs: 120_000,
      },
    );
    checks["direct-tcpip"] = direct.stdout === text;
    const loadDir = join(dir, "valgrind-sftp");
    mkdirSync(loadDir);
    const load = await ssh2Workload({
      mode: "load",
      port,
      password: "foo",
      echoPort: valgrindEcho.port,
      sessions: 8,
      rounds: 2,
      size: 100_000,
      dir: loadDir,
    }, 600_000);
    checks["ssh2 exec, -L, -R, sftp"] = load.ok === true;
    const sftp = await run("sshpass", [
      "-p",
      "foo",
      "sftp",
      "-P",
      String(port),
      ...SSH_OPTIONS,
      "-o",
      "PreferredAuthentications=password",
      "tester@127.0.0.1",
    ], {
      input: `put ${input} ${loadDir}/up.bin\nget ${loadDir}/up.bin ${loadDir}/down.bin\n`,
      timeoutMs: 120_000,
    });
    checks.sftp = sftp.code === 0 &&
      createHash("sha256").update(readFileSync(join(loadDir, "down.bin"))).digest("hex") === digest;
    // Clients killed mid-session under valgrind too.
    const killed = spawn("sshpass", sshpassArgs(port, "foo", "cat /dev/zero"), { stdio: "ignore" });
    await sleep(2000);
    for (const entry of processesMatching("cat /dev/zero")) {
      if (entry.command.startsWith("ssh ")) process.kill(entry.pid, "SIGKILL");
    }
    await new Promise((resolve) => killed.on("close", resolve));
    // Hostile input under valgrind: invalid reads or writes in libssh's parsers would show here.
    const fuzzed = await fuzz({
      port,
      cases: 300,
      concurrency: 4,
      seed,
      handshake: new Uint8Array(readFileSync(join(ROOT, "tests/fixtures/ssh2_handshake.bin"))),
      closeTimeoutMs: 60_000,
    });
    checks["300 fuzz cases"] = fuzzed.failures.length === 0;
  } else {
    problems.push("valgrind: the server did not start within 300 s");
  }
  process.kill(server.pid!, "SIGTERM");
  const code = await exited;
  const report = readFileSync(logFile, "utf8");
  const errors = Number(report.match(/ERROR SUMMARY: (\d+) errors/)?.[1] ?? -1);
  for (const [check, ok] of Object.entries(checks)) if (!ok) problems.push(`valgrind: ${check} failed`);
  if (code !== 0 || errors !== 0) {
    problems.push(`valgrind: exit ${code}, ${errors} errors (log: ${logFile})`);
    writeFileSync(join(ROOT, "bench/results/valgrind.log"), report);
  }
  return { exitCode: code, errors, checks, durationMs: Math.round(performance.now() - startedAt) };
}

summary.durationMs = Math.round(performance.now() - started);
summary.problems = problems;
mkdirSync(join(ROOT, "bench/results"), { recursive: true });
writeFileSync(RESULTS, JSON.stringify(summary, null, 2) + "\n");
console.log(JSON.stringify(summary, null, 2));
console.log(
  problems.length === 0
    ? `stress: ok (${RESULTS})`
    : `stress: ${problems.length} problem(s):\n${problems.join("\n")}`,
);
rmSync(dir, { recursive: true, force: true });
process.exit(problems.length === 0 ? 0 : 1);
