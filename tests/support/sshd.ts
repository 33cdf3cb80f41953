/**
 * A private OpenSSH `sshd` for the client tests: its own host key, its own
 * `authorized_keys`, a free port on 127.0.0.1, `internal-sftp`, no PAM, and
 * nothing of the machine's sshd configuration. Stopped by PID.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { run } from "./clients.ts";

const SSHD = "/usr/sbin/sshd";
/** sshd's privilege separation directory; it refuses to start as root without it. */
const PRIVSEP_DIR = "/run/sshd";

/** A running private sshd. */
export interface PrivateSshd {
  readonly port: number;
  readonly pid: number;
  /** A user that can log in: the one running the tests (any local user can, with `clientKeyFile`). */
  readonly user: string;
  /** A private key (ed25519, no passphrase) listed in the server's `authorized_keys`. */
  readonly clientKeyFile: string;
  /** The host's `known_hosts` line, `[127.0.0.1]:PORT ssh-ed25519 …`. */
  readonly knownHostsLine: string;
  /** The host key's SHA256 fingerprint, as `ssh-keygen -l` prints it. */
  readonly fingerprint: string;
  /** A scratch folder that is removed with the server. */
  readonly dir: string;
  /** What sshd logged so far (`-e`: to stderr). */
  log(): string;
  /** Adds a public key line to `authorized_keys`. */
  authorize(publicKeyLine: string): void;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of `startSshd`: extra `sshd_config` lines. */
export interface PrivateSshdOptions {
  config?: string[];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

async function keygen(file: string): Promise<void> {
  const result = await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", file]);
  if (result.code !== 0) throw new Error(`ssh-keygen failed: ${result.stderr}`);
}

function waitForListening(child: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`sshd did not start:\n${output()}`)), timeoutMs);
    const check = (): void => {
      if (/Server listening on/.test(output())) done();
    };
    const exited = (): void => done(new Error(`sshd exited:\n${output()}`));
    const done = (error?: Error): void => {
      clearTimeout(timer);
      child.stderr?.off("data", check);
      child.off("exit", exited);
      if (error) reject(error);
      else resolve();
    };
    child.stderr?.on("data", check);
    child.on("exit", exited);
  });
}

/** Starts a private sshd (retrying when another process took the free port first). */
export async function startSshd(options: PrivateSshdOptions = {}): Promise<PrivateSshd> {
  const dir = mkdtempSync(join(tmpdir(), "libssh-sshd-"));
  try {
    if (process.getuid?.() === 0) mkdirSync(PRIVSEP_DIR, { recursive: true, mode: 0o755 });
    await keygen(join(dir, "host_ed25519"));
    await keygen(join(dir, "client_ed25519"));
    const authorizedKeys = join(dir, "authorized_keys");
    writeFileSync(authorizedKeys, readFileSync(join(dir, "client_ed25519.pub")));
    // sshd reads authorized_keys as the user logging in: other users than the one running it too.
    chmodSync(dir, 0o755);
    chmodSync(authorizedKeys, 0o644);
    for (let attempt = 1;; attempt++) {
      try {
        return await launch(dir, authorizedKeys, options);
      } catch (error) {
        if (attempt >= 3) throw error;
      }
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

async function launch(
  dir: string,
  authorizedKeys: string,
  options: PrivateSshdOptions,
): Promise<PrivateSshd> {
  const port = await freePort();
  const configFile = join(dir, "sshd_config");
  writeFileSync(
    configFile,
    [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${join(dir, "host_ed25519")}`,
      `PidFile none`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      "UsePAM no",
      "StrictModes no",
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "Subsystem sftp internal-sftp",
      "AcceptEnv FOO",
      "LogLevel VERBOSE",
      ...(options.config ?? []),
    ].join("\n") + "\n",
  );
  const child = spawn(SSHD, ["-D", "-e", "-f", configFile], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (text: string) => log += text);
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  try {
    await waitForListening(child, () => log, 10_000);
  } catch (error) {
    child.kill("SIGKILL");
    await exited;
    throw error;
  }
  const hostPublicKey = readFileSync(join(dir, "host_ed25519.pub"), "utf8").trim();
  const fingerprint =
    (await run("ssh-keygen", ["-l", "-f", join(dir, "host_ed25519.pub")])).stdout.split(" ")[1];
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    closing ??= (async () => {
      // sshd -D serves each connection in a child of its own: end them too (their group is sshd's).
      child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    })();
  return {
    port,
    pid: child.pid!,
    user: userInfo().username,
    clientKeyFile: join(dir, "client_ed25519"),
    knownHostsLine: `[127.0.0.1]:${port} ${hostPublicKey}`,
    fingerprint,
    dir,
    log: () => log,
    authorize: (line) => writeFileSync(authorizedKeys, line.trim() + "\n", { flag: "a" }),
    close,
    [Symbol.asyncDispose]: close,
  };
}
