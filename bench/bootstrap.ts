/**
 * Gets the machine ready for the benchmark, idempotently: OpenSSH's `sshd`
 * (apt), a throw-away local user with password `foo` for it, the C server
 * built from `bench/c/`, and one ed25519 host key (in a temp dir) that
 * every server uses.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** The user every client logs in as; sshd needs it to exist, the others accept any name. */
export const BENCH_USER = "benchuser";
/** The password of every server. */
export const BENCH_PASSWORD = "foo";

const C_DIR = fileURLToPath(new URL("./c/", import.meta.url));
const BUILD_DIR = fileURLToPath(new URL("./build/", import.meta.url));
/** Where OpenSSH's server lives on Debian. */
export const SSHD = "/usr/sbin/sshd";

/** What the servers need, made once per benchmark run. */
export interface BenchEnvironment {
  /** Temp dir of this run (removed by `cleanUp`). */
  readonly tempDir: string;
  /** The ed25519 host key (OpenSSH format, mode 600). */
  readonly hostKeyPath: string;
  /** The compiled C server. */
  readonly cServerPath: string;
  /** The compiled subreaper every server runs under (see `c/tree_reaper.c`). */
  readonly treeReaperPath: string;
  /** Why sshd cannot run here, if it cannot. */
  readonly sshdUnavailable: string | undefined;
}

async function run(
  command: string,
  args: string[],
  input?: string,
): Promise<{ ok: boolean; output: string }> {
  const child = new Deno.Command(command, {
    args,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const { success, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { ok: success, output: decoder.decode(stdout) + decoder.decode(stderr) };
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function ensureSshd(log: (line: string) => void): Promise<string | undefined> {
  if (Deno.uid() !== 0) return "needs root (to create the local user and run sshd)";
  if (!exists(SSHD)) {
    log("installing openssh-server (apt)");
    let result = await run("apt-get", ["install", "-y", "--no-install-recommends", "openssh-server"]);
    if (!result.ok) {
      await run("apt-get", ["update"]);
      result = await run("apt-get", ["install", "-y", "--no-install-recommends", "openssh-server"]);
    }
    if (!result.ok || !exists(SSHD)) return `apt-get install openssh-server failed: ${result.output.trim()}`;
  }
  if (!(await run("id", [BENCH_USER])).ok) {
    log(`creating the local user ${BENCH_USER}`);
    const created = await run("useradd", ["--create-home", "--shell", "/bin/sh", BENCH_USER]);
    if (!created.ok) return `useradd failed: ${created.output.trim()}`;
  }
  const password = await run("chpasswd", [], `${BENCH_USER}:${BENCH_PASSWORD}\n`);
  if (!password.ok) return `chpasswd failed: ${password.output.trim()}`;
  // sshd's privilege separation directory; Debian's service unit usually makes it.
  Deno.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  return undefined;
}

/** Compiles `bench/c/<name>.c` into `bench/build/<name>` unless it is up to date. */
async function build(name: string, libraries: string[], log: (line: string) => void): Promise<string> {
  const source = `${C_DIR}${name}.c`;
  const binary = `${BUILD_DIR}${name}`;
  const fresh = exists(binary) && Deno.statSync(binary).mtime! >= Deno.statSync(source).mtime!;
  if (fresh) return binary;
  log(`building ${name} (cc)`);
  Deno.mkdirSync(BUILD_DIR, { recursive: true });
  const result = await run("cc", ["-O2", "-Wall", "-Wextra", "-o", binary, source, ...libraries]);
  if (!result.ok) throw new Error(`building ${name} failed:\n${result.output}`);
  return binary;
}

/** Installs and builds what is missing; makes the run's temp dir and host key. */
export async function prepare(log: (line: string) => void): Promise<BenchEnvironment> {
  const sshdUnavailable = await ensureSshd(log);
  const cServerPath = await build("bench_server", ["-lssh"], log);
  const treeReaperPath = await build("tree_reaper", [], log);
  const tempDir = Deno.makeTempDirSync({ prefix: "libssh-bench-" });
  const hostKeyPath = `${tempDir}/host_ed25519`;
  const keygen = await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", hostKeyPath]);
  if (!keygen.ok) throw new Error(`ssh-keygen failed: ${keygen.output}`);
  return { tempDir, hostKeyPath, cServerPath, treeReaperPath, sshdUnavailable };
}

/** Removes the run's temp dir. */
export function cleanUp(environment: BenchEnvironment): void {
  Deno.removeSync(environment.tempDir, { recursive: true });
}
