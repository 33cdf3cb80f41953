/**
 * The servers compared, and how each is started fresh and stopped. All use
 * the same ed25519 host key, password, and pinned algorithms.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { BENCH_PASSWORD, BENCH_USER, type BenchEnvironment, SSHD } from "./bootstrap.ts";
import { LineReader } from "./line_reader.ts";
import { descendants, processTree } from "./process_tree.ts";
import { withTimeout } from "./with_timeout.ts";

/** The algorithms every server is pinned to. */
export const ALGORITHMS = {
  kex: "curve25519-sha256",
  ciphers: "aes128-gcm@openssh.com",
  hostKey: "ssh-ed25519",
} as const;

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

/** Names of the servers, in table order. */
export type ServerName = "ours-deno" | "ours-node" | "ssh2" | "sshd" | "c";

/** A server started for one workload. */
export interface RunningServer {
  readonly name: ServerName;
  /** Root of the process tree whose CPU and memory are measured: the subreaper the server runs under. */
  readonly pid: number;
  /** The server process itself (the subreaper's child), whose threads' context switches are counted. */
  readonly serverPid: number | undefined;
  /** The server's executable: processes running it count as the server in memory figures. */
  readonly executable: string;
  readonly port: number;
  /** The user name clients log in with. */
  readonly username: string;
  /** Stops the server and every process it left behind. */
  stop(): Promise<void>;
}

/** One kind of server in the comparison. */
export interface ServerKind {
  readonly name: ServerName;
  /** Column title. */
  readonly label: string;
  /** What it is, for the report. */
  readonly description: string;
  /** Gets it ready once per benchmark run; resolves to why it cannot run, if it cannot. */
  prepare(environment: BenchEnvironment): Promise<string | undefined>;
  start(environment: BenchEnvironment, options?: StartOptions): Promise<RunningServer>;
}

/** How to start a server beyond its usual flags. */
export interface StartOptions {
  /** Open files allowed (soft and hard), set with `prlimit` before the server starts; default: inherited. */
  fdLimit?: number;
}

/** The command and arguments that run `command` with at most `fdLimit` open files. */
export function withFdLimit(
  command: string,
  args: string[],
  fdLimit: number | undefined,
): [string, string[]] {
  return fdLimit === undefined
    ? [command, args]
    : ["prlimit", [`--nofile=${fdLimit}:${fdLimit}`, command, ...args]];
}

/** The flags every server but sshd takes alike: host key, password, pinned algorithms. */
function serverFlags(environment: BenchEnvironment): string[] {
  return [
    "--host-key",
    environment.hostKeyPath,
    "--password",
    BENCH_PASSWORD,
    "--kex",
    ALGORITHMS.kex,
    "--ciphers",
    ALGORITHMS.ciphers,
    "--hostkey-algorithms",
    ALGORITHMS.hostKey,
  ];
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, name: Deno.Signal): void {
  try {
    Deno.kill(pid, name);
  } catch { /* already gone */ }
}

/** Stops a server: SIGTERM, then SIGKILL for it and whatever it started that is still there. */
async function stopTree(child: Deno.ChildProcess): Promise<void> {
  const leftovers = descendants(child.pid);
  signal(child.pid, "SIGTERM");
  const exited = await Promise.race([
    child.status.then(() => true),
    new Promise<false>((resolve) => setTimeout(() => resolve(false), 3000)),
  ]);
  if (!exited) {
    signal(child.pid, "SIGKILL");
    await child.status;
  }
  for (const pid of leftovers) if (alive(pid)) signal(pid, "SIGKILL");
}

interface Launch {
  command: string;
  args: string[];
  /** Finds the port in the server's output: the first stdout JSON line, or a stderr log line. */
  port: (stdout: LineReader, stderr: LineReader) => Promise<number | undefined>;
  username?: string;
}

async function launch(
  environment: BenchEnvironment,
  name: ServerName,
  spec: Launch,
  options: StartOptions = {},
): Promise<RunningServer> {
  // Under the subreaper, processes the server orphans stay in the measured tree.
  const [command, args] = withFdLimit(spec.command, spec.args, options.fdLimit);
  const child = new Deno.Command(environment.treeReaperPath, {
    args: [command, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = new LineReader(child.stdout);
  const stderr = new LineReader(child.stderr);
  let port: number | undefined;
  try {
    port = await withTimeout(spec.port(stdout, stderr), 20_000, `starting ${name}`);
  } catch (error) {
    await stopTree(child);
    throw error;
  }
  if (port === undefined) {
    await stopTree(child);
    throw new Error(`${name} did not start: ${stderr.tail.trim() || stdout.tail.trim()}`);
  }
  const server = processTree(child.pid).find((stat) => stat.ppid === child.pid);
  let executable = spec.command;
  try {
    executable = server ? Deno.readLinkSync(`/proc/${server.pid}/exe`) : executable;
  } catch { /* keep the command's path */ }
  return {
    name,
    pid: child.pid,
    serverPid: server?.pid,
    executable,
    port,
    username: spec.username ?? BENCH_USER,
    stop: () => stopTree(child),
  };
}

/** The port from a first stdout line `{"host":…,"port":…}`. */
async function jsonPort(stdout: LineReader): Promise<number | undefined> {
  const line = await stdout.next();
  if (line === undefined) return undefined;
  return (JSON.parse(line) as { port: number }).port;
}

/** Builds the npm package into `npm/` (what "ours" on Node imports); the reason when that fails. */
async function buildNpmPackage(): Promise<string | undefined> {
  const { success, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", here("../scripts/build_npm.ts")],
    stdout: "null",
    stderr: "piped",
  }).output();
  return success ? undefined : `the npm build failed: ${new TextDecoder().decode(stderr).trim()}`;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function sshdConfig(environment: BenchEnvironment, port: number): string {
  return [
    `Port ${port}`,
    "ListenAddress 127.0.0.1",
    `HostKey ${environment.hostKeyPath}`,
    "PidFile none",
    "UsePAM no",
    "PasswordAuthentication yes",
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication no",
    "PermitRootLogin no",
    `AllowUsers ${BENCH_USER}`,
    `KexAlgorithms ${ALGORITHMS.kex}`,
    `Ciphers ${ALGORITHMS.ciphers}`,
    `HostKeyAlgorithms ${ALGORITHMS.hostKey}`,
    "AllowTcpForwarding yes",
    "StrictModes no",
    "PrintMotd no",
    "PrintLastLog no",
    "UseDNS no",
    // The SFTP benchmark's server side, in the session process (no sftp-server binary needed).
    "Subsystem sftp internal-sftp",
    // The idle workload holds 200 connections, the handshake workload opens 8 at once.
    "MaxStartups 100:30:300",
    "",
  ].join("\n");
}

/** Every server of the comparison, in table order. */
export const SERVERS: readonly ServerKind[] = [
  {
    name: "ours-deno",
    label: "ours (Deno)",
    description: "this binding's DemoServer CLI on Deno (src/demo/cli.ts)",
    prepare: () => Promise.resolve(undefined),
    start: (environment, options) =>
      launch(environment, "ours-deno", {
        command: Deno.execPath(),
        args: [
          "run",
          "--allow-all",
          here("../src/demo/cli.ts"),
          ...serverFlags(environment),
        ],
        port: jsonPort,
      }, options),
  },
  {
    name: "ours-node",
    label: "ours (Node)",
    description:
      "this binding's DemoServer CLI on Node, from the npm build (npm/src/demo/cli.js, the libssh-demo bin)",
    prepare: buildNpmPackage,
    start: (environment, options) =>
      launch(environment, "ours-node", {
        command: "node",
        args: [
          here("../npm/src/demo/cli.js"),
          ...serverFlags(environment),
        ],
        port: jsonPort,
      }, options),
  },
  {
    name: "ssh2",
    label: "ssh2 (Node)",
    description: "the npm ssh2 1.x server on Node (bench/servers/ssh2_server.mjs)",
    prepare: () => Promise.resolve(undefined),
    start: (environment, options) =>
      launch(environment, "ssh2", {
        command: "node",
        args: [
          here("./servers/ssh2_server.mjs"),
          ...serverFlags(environment),
        ],
        port: jsonPort,
      }, options),
  },
  {
    name: "sshd",
    label: "OpenSSH sshd",
    description: "a private OpenSSH sshd (own config, UsePAM no, fork per connection)",
    prepare: (environment) => Promise.resolve(environment.sshdUnavailable),
    start: (environment, options) => {
      const port = freePort();
      const config = `${environment.tempDir}/sshd_config_${port}`;
      Deno.writeTextFileSync(config, sshdConfig(environment, port));
      return launch(environment, "sshd", {
        command: SSHD,
        args: ["-D", "-e", "-f", config],
        port: async (_stdout, stderr) => {
          for (let line = await stderr.next(); line !== undefined; line = await stderr.next()) {
            if (line.includes("Server listening on")) return port;
          }
          return undefined;
        },
      }, options);
    },
  },
  {
    name: "c",
    label: "C libssh",
    description: "a minimal single-process C server on the same libssh (bench/c/bench_server.c)",
    prepare: () => Promise.resolve(undefined),
    start: (environment, options) =>
      launch(environment, "c", {
        command: environment.cServerPath,
        args: serverFlags(environment),
        port: jsonPort,
      }, options),
  },
];
