/**
 * The client benchmark: this binding's client on Deno and on Node, the npm
 * `ssh2` client and OpenSSH's `ssh`, one after another against the same
 * private sshd (the server benchmark's, pinned to curve25519 / aes128-gcm /
 * ssh-ed25519, password login), on this machine.
 *
 *   deno run -A bench/client.ts [--quick]
 *
 * Figures, each the client's own CPU (user + system, every thread):
 * connect + password login + exec `true` + close, per operation; exec `true`
 * on one connection (latency and CPU); 512 MiB down (`head -c … /dev/zero`)
 * and up (`cat > /dev/null`), CPU per GiB and throughput. The JS clients
 * measure their own CPU around the measured part (start-up and a warm-up
 * left out); `ssh` is measured with `/usr/bin/time` per process (its start
 * is part of each of its connects; for the transfers one handshake, measured
 * apart, is subtracted). Writes `bench/results/client.{md,json}`.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { cleanUp } from "./bootstrap.ts";
import {
  type ClientName,
  CLIENTS,
  type Measurement,
  median,
  OPENSSH_OPTIONS,
  prepareClientBench,
  RESULTS_DIR,
  runJsClient,
  timeOpenssh,
} from "./client_processes.ts";

const quick = Deno.args.includes("--quick");
const HANDSHAKES = quick ? 20 : 100;
const EXECS = quick ? 50 : 300;
const BYTES = (quick ? 64 : 512) * 1024 * 1024;
const GIB = 1024 ** 3;

const LOAD = fileURLToPath(new URL("./client_load.mjs", import.meta.url));

type Workload = "handshake" | "latency" | "down" | "up";
const WORKLOADS: Workload[] = ["handshake", "latency", "down", "up"];

/** Runs OpenSSH `ssh` for one workload; its CPU from `/usr/bin/time` (user + system of each process). */
async function opensshClient(
  settings: { port: number; user: string; workload: Workload; count: number; bytes: number },
): Promise<Measurement> {
  const ssh = ["ssh", "-p", String(settings.port), ...OPENSSH_OPTIONS, `${settings.user}@127.0.0.1`];
  const { cpuMs, wallMs } = await timeOpenssh((timed) => {
    const remote = (command: string): string => timed([...ssh, `'${command}'`]);
    return settings.workload === "handshake"
      ? `for i in $(seq ${settings.count}); do ${remote("true")}; done`
      : settings.workload === "down"
      ? `${remote(`head -c ${settings.bytes} /dev/zero`)} > /dev/null`
      : `head -c ${settings.bytes} /dev/zero | ${remote("cat > /dev/null")}`;
  });
  return {
    cpuMs,
    wallMs,
    ops: settings.workload === "handshake" ? settings.count : 1,
    bytes: settings.bytes,
  };
}

const LABELS: Record<ClientName, string> = {
  "ours-deno": "ours (Deno)",
  "ours-node": "ours (Node)",
  "ssh2": "ssh2 1.17 (Node)",
  "openssh": "OpenSSH ssh",
};

const log = (line: string): void => console.error(`bench:client: ${line}`);
const { environment, sshd, login } = await prepareClientBench(log);
const results: Partial<Record<ClientName, Partial<Record<Workload, Measurement>>>> = {};
try {
  for (const workload of WORKLOADS) {
    for (const client of CLIENTS) {
      if (client === "openssh" && workload === "latency") continue; // a new process per command: not comparable
      const server = await sshd.start(environment);
      try {
        const settings = {
          ...login,
          port: server.port,
          workload,
          count: workload === "handshake" ? HANDSHAKES : EXECS,
          bytes: BYTES,
        };
        log(`${client} ${workload}`);
        const measurement = client === "openssh"
          ? await opensshClient(settings)
          : await runJsClient<Measurement>(
            LOAD,
            client === "ours-node" || client === "ssh2" ? "node" : "deno",
            { ...settings, client: client === "ssh2" ? "ssh2" : "ours" },
          );
        (results[client] ??= {})[workload] = measurement;
      } finally {
        await server.stop();
      }
    }
  }
} finally {
  cleanUp(environment);
}

const perOp = (m: Measurement | undefined): number | undefined => m && m.cpuMs / m.ops;
const handshakeCpu = (client: ClientName): number | undefined => perOp(results[client]?.handshake);
const bulk = (
  client: ClientName,
  workload: "down" | "up",
): { cpuPerGiB: number; mibPerSecond: number } | undefined => {
  const m = results[client]?.[workload];
  if (!m) return undefined;
  // ssh's figure includes its connect: take one handshake off.
  const cpuMs = client === "openssh" ? m.cpuMs - (handshakeCpu("openssh") ?? 0) : m.cpuMs;
  return { cpuPerGiB: cpuMs / 1000 / (BYTES / GIB), mibPerSecond: BYTES / 1024 / 1024 / (m.wallMs / 1000) };
};
const fixed = (value: number | undefined, digits: number): string =>
  value === undefined ? "—" : value.toFixed(digits);

const rows = CLIENTS.map((client) => {
  const { handshake, latency } = results[client] ?? {};
  const down = bulk(client, "down");
  const up = bulk(client, "up");
  const cells = [
    fixed(perOp(handshake), 2),
    fixed(handshake && handshake.wallMs / handshake.ops, 1),
    fixed(latency && median(latency.latenciesMs!), 2),
    fixed(perOp(latency), 3),
    fixed(down?.cpuPerGiB, 2),
    fixed(down?.mibPerSecond, 0),
    fixed(up?.cpuPerGiB, 2),
    fixed(up?.mibPerSecond, 0),
  ];
  return `| ${LABELS[client]} | ${cells.join(" | ")} |`;
});
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined ? "—" : (a / b).toFixed(2);
const bulkCpu = (client: ClientName): number | undefined => {
  const down = bulk(client, "down"), up = bulk(client, "up");
  return down && up ? (down.cpuPerGiB + up.cpuPerGiB) / 2 : undefined;
};
const report = [
  `Client benchmark (${quick ? "quick" : "full"}), ${
    new Date().toISOString()
  }: ${HANDSHAKES} connects, ${EXECS} execs, ` +
  `${
    BYTES / 1024 / 1024
  } MiB each way, against a private OpenSSH sshd (curve25519-sha256, aes128-gcm, ssh-ed25519, password).`,
  "",
  "| client | connect+login+exec CPU ms/op | its wall ms/op | exec latency p50 ms (one connection) | exec CPU ms/op | down CPU s/GiB | down MiB/s | up CPU s/GiB | up MiB/s |",
  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ...rows,
  "",
  `Targets: handshake CPU ours ÷ ssh2 ≤ 0.6: Deno ${
    ratio(handshakeCpu("ours-deno"), handshakeCpu("ssh2"))
  }, Node ${
    ratio(handshakeCpu("ours-node"), handshakeCpu("ssh2"))
  }; bulk CPU per GiB ours ÷ OpenSSH ≤ 1.2 (mean of down and up): Deno ${
    ratio(bulkCpu("ours-deno"), bulkCpu("openssh"))
  }, Node ${ratio(bulkCpu("ours-node"), bulkCpu("openssh"))}.`,
].join("\n");
Deno.mkdirSync(RESULTS_DIR, { recursive: true });
Deno.writeTextFileSync(`${RESULTS_DIR}client.md`, report + "\n");
Deno.writeTextFileSync(
  `${RESULTS_DIR}client.json`,
  JSON.stringify({ quick, HANDSHAKES, EXECS, BYTES, results }, null, 2),
);
console.log(report);
