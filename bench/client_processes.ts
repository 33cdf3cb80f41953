/**
 * What the client benchmarks (`bench:client`, `bench:sftp`) share: the
 * private sshd every client talks to, the JS clients run as their own Deno or
 * Node process, and OpenSSH's clients run under `sshpass` and
 * `/usr/bin/time`.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { BENCH_PASSWORD, BENCH_USER, type BenchEnvironment, prepare } from "./bootstrap.ts";
import { ALGORITHMS, type ServerKind, SERVERS } from "./servers.ts";

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

/** Where the benchmarks write their Markdown and JSON. */
export const RESULTS_DIR: string = here("./results/");

/** The clients compared, in table order: ours on Deno and on Node, the npm `ssh2` client, OpenSSH's. */
export const CLIENTS = ["ours-deno", "ours-node", "ssh2", "openssh"] as const;
/** One of `CLIENTS`. */
export type ClientName = typeof CLIENTS[number];

/** What a client measured: its own CPU (user + system, every thread) and the wall time of the measured part. */
export interface Measurement {
  cpuMs: number;
  wallMs: number;
  ops: number;
  bytes?: number;
  latenciesMs?: number[];
}

/** How the JS clients log in: what `js_clients.mjs` takes. */
export interface LoginSettings {
  port: number;
  user: string;
  password: string;
  fingerprint: string;
  algorithms: typeof ALGORITHMS;
}

/** The machine made ready for a client benchmark, with the sshd the clients talk to. */
export interface ClientBench {
  environment: BenchEnvironment;
  sshd: ServerKind;
  /** The login settings but the port (each sshd started has its own). */
  login: Omit<LoginSettings, "port">;
}

const decoder = new TextDecoder();

/** Runs `command` to its end; its stdout, or an error with its stderr when it fails. */
export async function output(command: string, args: string[]): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(`${command} ${args.join(" ")} failed: ${decoder.decode(stderr)}`);
  return decoder.decode(stdout);
}

/**
 * Prepares the machine (`bootstrap.ts`), builds `npm/` for ours on Node and
 * reads the host key's fingerprint. Call `cleanUp(bench.environment)` at the end.
 */
export async function prepareClientBench(log: (line: string) => void): Promise<ClientBench> {
  try {
    Deno.statSync("/usr/bin/time");
  } catch {
    throw new Error("the client benchmarks measure OpenSSH with /usr/bin/time: apt-get install time");
  }
  const environment = await prepare(log);
  if (environment.sshdUnavailable) throw new Error(`sshd cannot run: ${environment.sshdUnavailable}`);
  log("building npm/ for ours on Node");
  await output(Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    here("../scripts/build_npm.ts"),
  ]);
  const fingerprint = (await output("ssh-keygen", ["-l", "-f", environment.hostKeyPath])).split(" ")[1];
  return {
    environment,
    sshd: SERVERS.find((server) => server.name === "sshd")!,
    login: { user: BENCH_USER, password: BENCH_PASSWORD, fingerprint, algorithms: ALGORITHMS },
  };
}

/**
 * Runs the JS client script `script` (a `.mjs` run by Deno or by Node) with
 * `settings` as its JSON argument, plus `module`: ours as that runtime
 * imports it (`mod.ts`, or the npm build). Resolves to its last line, parsed.
 */
export async function runJsClient<T>(
  script: string,
  runtime: "deno" | "node",
  settings: object,
): Promise<T> {
  const module = runtime === "deno"
    ? new URL("../mod.ts", import.meta.url).href
    : new URL("../npm/mod.js", import.meta.url).href;
  const json = JSON.stringify({ module, ...settings });
  const [command, args] = runtime === "deno"
    ? [Deno.execPath(), ["run", "--allow-all", script, json]]
    : ["node", [script, json]];
  const lines = (await output(command, args)).trim().split("\n");
  return JSON.parse(lines.at(-1)!);
}

/** The `-o` options OpenSSH's `ssh` and `sftp` need for the benchmark's sshd (password login, pinned algorithms). */
export const OPENSSH_OPTIONS: readonly string[] = [
  "StrictHostKeyChecking=no",
  "UserKnownHostsFile=/dev/null",
  "LogLevel=ERROR",
  "PreferredAuthentications=password",
  "PubkeyAuthentication=no",
  `KexAlgorithms=${ALGORITHMS.kex}`,
  `Ciphers=${ALGORITHMS.ciphers}`,
  `HostKeyAlgorithms=${ALGORITHMS.hostKey}`,
].flatMap((option) => ["-o", option]);

/**
 * Runs the bash `script` that `build` makes; each command it wraps with the
 * given `timed` runs under `sshpass` and `/usr/bin/time`. Resolves to the
 * CPU of those commands (user + system, their children included) and the
 * script's wall time.
 */
export async function timeOpenssh(
  build: (timed: (argv: string[]) => string) => string,
): Promise<{ cpuMs: number; wallMs: number }> {
  const tmp = Deno.makeTempFileSync();
  const timed = (argv: string[]): string =>
    `sshpass -p ${BENCH_PASSWORD} /usr/bin/time -a -o ${tmp} -f "%U %S" ${argv.join(" ")}`;
  try {
    const started = performance.now();
    await output("bash", ["-c", build(timed)]);
    const wallMs = performance.now() - started;
    const cpuMs = Deno.readTextFileSync(tmp).trim().split("\n")
      .map((line) => line.split(" ").reduce((sum, seconds) => sum + Number(seconds) * 1000, 0))
      .reduce((sum, ms) => sum + ms, 0);
    return { cpuMs, wallMs };
  } finally {
    Deno.removeSync(tmp);
  }
}

/** The middle value (the upper one of an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
