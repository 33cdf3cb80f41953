/**
 * `deno task bench`: this binding's server side by side with the npm ssh2
 * server, OpenSSH's sshd and a minimal C server on the same libssh, in one
 * run on this machine. Writes Markdown, JSON and SVG charts (ratios against
 * C, and cost against sessions held) to `bench/results/`.
 *
 *   deno task bench [--quick] [--repetitions N] [--servers a,b] [--workloads a,b]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { cleanUp, prepare } from "./bootstrap.ts";
import { ratioChart } from "./ratio_chart.ts";
import { markdownReport, type ReportServer } from "./report.ts";
import { SERVERS } from "./servers.ts";
import { checkTargets, summarize } from "./summary.ts";
import { runTrial, type TrialResult } from "./trial.ts";
import { runScaleTrial } from "./scale_trial.ts";
import { scaleChart } from "./scale_chart.ts";
import { WORKLOADS } from "./workloads.ts";

const USAGE = `usage: deno task bench [--quick] [--repetitions N] [--servers ${
  SERVERS.map((s) => s.name).join(",")
}]
                       [--workloads ${WORKLOADS.map((w) => w.name).join(",")}]`;

const RESULTS_DIR = fileURLToPath(new URL("./results/", import.meta.url));

function fail(message: string): never {
  console.error(`bench: ${message}\n${USAGE}`);
  Deno.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      repetitions: { type: "string" },
      servers: { type: "string" },
      workloads: { type: "string" },
      help: { type: "boolean", default: false },
    },
    strict: true,
  }));
} catch (error) {
  fail((error as Error).message);
}
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const quick = values.quick;
const repetitions = Number(values.repetitions ?? (quick ? 1 : 3));
if (!Number.isInteger(repetitions) || repetitions < 1) fail("--repetitions must be a positive integer");
const pick = <T extends { name: string }>(all: readonly T[], list: string | undefined, what: string): T[] => {
  if (list === undefined) return [...all];
  const names = list.split(",");
  for (const name of names) if (!all.some((x) => x.name === name)) fail(`unknown ${what} ${name}`);
  return all.filter((x) => names.includes(x.name));
};
const chosenServers = pick(SERVERS, values.servers, "server");
const workloads = pick(WORKLOADS, values.workloads, "workload");
if (!chosenServers.some((s) => s.name === "c")) fail("the C server is the reference: keep it in --servers");

const log = (line: string): void => console.error(`bench: ${line}`);

async function commandOutput(command: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
      .output();
    const decoder = new TextDecoder();
    return (decoder.decode(stdout) + decoder.decode(stderr)).trim().split("\n")[0];
  } catch {
    return "not found";
  }
}

async function describeMachine(): Promise<Record<string, string>> {
  const cpu = /model name\s*:\s*(.*)/.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1] ?? "unknown";
  const ssh2 = JSON.parse(
    Deno.readTextFileSync(fileURLToPath(new URL("../node_modules/ssh2/package.json", import.meta.url))),
  ) as { version: string };
  const libssh = await commandOutput("dpkg-query", ["-W", "-f", "${Version}", "libssh-4"]);
  return {
    machine: `${navigator.hardwareConcurrency} CPUs (${cpu}), Linux ${Deno.osRelease()}, ` +
      `load average at start ${Deno.loadavg().map((l) => l.toFixed(2)).join(" ")}`,
    libssh: `${libssh} (Debian package libssh-4)`,
    deno: Deno.version.deno,
    node: await commandOutput("node", ["--version"]),
    ssh2: ssh2.version,
    openssh: await commandOutput("ssh", ["-V"]),
    algorithms: "kex curve25519-sha256, host key ssh-ed25519, cipher aes128-gcm@openssh.com",
    client: "npm ssh2 client in its own Node process (OpenSSH ssh for the cross-check)",
  };
}

const environment = await prepare(log);
const reportServers: ReportServer[] = [];
for (const kind of chosenServers) {
  reportServers.push({ name: kind.name, label: kind.label, unavailable: await kind.prepare(environment) });
}
const servers = chosenServers.filter((_, i) => !reportServers[i].unavailable);
for (const server of reportServers) if (server.unavailable) log(`${server.label}: ${server.unavailable}`);

const trials: TrialResult[] = [];
const started = Date.now();
let aborted = false;
Deno.addSignalListener("SIGINT", () => {
  aborted = true;
  log("interrupted: finishing the current trial, then writing what was measured");
});
try {
  for (let repetition = 1; repetition <= repetitions && !aborted; repetition++) {
    for (const workload of workloads) {
      // Interleave: each repetition starts with another server, so drift in the machine's load spreads evenly.
      const order = servers.map((_, i) => servers[(i + repetition - 1) % servers.length])
        .filter((server) => !workload.servers || workload.servers.includes(server.name));
      for (const server of order) {
        if (aborted) break;
        const trial = workload.kind === "scale"
          ? await runScaleTrial(server, workload, environment, quick, repetition)
          : await runTrial(server, workload, environment, quick, repetition);
        trials.push(trial);
        const summary = trial.ok && workload.kind === "scale"
          ? `${trial.held} held: ${
            ((trial.handshakeCpuSeconds ?? 0) * 1000 / (trial.handshakes || 1)).toFixed(2)
          } ` +
            `ms/handshake, ${((trial.execCpuSeconds ?? 0) * 1000 / (trial.execs || 1)).toFixed(2)} ms/exec` +
            (trial.pssPerSessionKb !== undefined ? `, ${trial.pssPerSessionKb.toFixed(1)} KB/session` : "")
          : trial.ok
          ? `cpu ${(trial.serverCpuSeconds ?? 0).toFixed(2)} s` +
            (trial.seconds ? `, ${trial.seconds.toFixed(2)} s wall` : "") +
            (trial.pssPerSessionKb !== undefined ? `, ${trial.pssPerSessionKb.toFixed(1)} KB/session` : "")
          : `FAILED: ${trial.error?.split("\n")[0]}`;
        log(`[${repetition}/${repetitions}] ${workload.name} ${server.name}: ${summary}`);
      }
    }
  }
} finally {
  cleanUp(environment);
}

const cells = summarize(trials, servers.map((s) => s.name));
const context = {
  command: `deno task bench ${Deno.args.join(" ")}`.trim(),
  date: new Date().toISOString(),
  quick,
  repetitions,
  environment: await describeMachine(),
  servers: reportServers,
};
const markdown = markdownReport(cells, context);
const json = JSON.stringify({ ...context, cells, targets: checkTargets(cells), trials }, null, 2);
const svg = ratioChart(cells, reportServers.filter((s) => !s.unavailable));
const scaleSvg = scaleChart(cells, reportServers.filter((s) => !s.unavailable));
const stamp = context.date.replace(/[:.]/g, "-");
Deno.mkdirSync(RESULTS_DIR, { recursive: true });
for (const name of [stamp, "latest"]) {
  Deno.writeTextFileSync(`${RESULTS_DIR}${name}.md`, markdown);
  Deno.writeTextFileSync(`${RESULTS_DIR}${name}.json`, json + "\n");
  Deno.writeTextFileSync(`${RESULTS_DIR}${name}.svg`, svg);
  if (scaleSvg) Deno.writeTextFileSync(`${RESULTS_DIR}${name}-scale.svg`, scaleSvg);
}
console.log(markdown);
log(
  `done in ${
    ((Date.now() - started) / 1000).toFixed(0)
  } s; wrote bench/results/${stamp}.{md,json,svg} and latest.*`,
);
