/**
 * A private dropbear server for the client tests (Debian `dropbear-bin`): its
 * own ed25519 host key, a free port on 127.0.0.1, and a throw-away local user
 * (dropbear logs in real accounts: the password from /etc/shadow, keys from
 * `~/.ssh/authorized_keys`). Stopped by PID; the user is removed.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./clients.ts";
import { createLocalUser, type LocalUser } from "./local_user.ts";

/** A running private dropbear. */
export interface PrivateDropbear {
  readonly port: number;
  readonly pid: number;
  /** The account to log in as, with its password. */
  readonly user: LocalUser;
  /** The host's `known_hosts` line, `[127.0.0.1]:PORT ssh-ed25519 …`. */
  readonly knownHostsLine: string;
  /** The host key's SHA256 fingerprint. */
  readonly fingerprint: string;
  /** What dropbear logged so far. */
  log(): string;
  /** Adds a public key line to the user's `authorized_keys`. */
  authorize(publicKeyLine: string): void;
  [Symbol.asyncDispose](): Promise<void>;
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

function waitForListening(child: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`dropbear did not start:\n${output()}`)), timeoutMs);
    const check = (): void => {
      if (/Not backgrounding/.test(output())) done();
    };
    const exited = (): void => done(new Error(`dropbear exited:\n${output()}`));
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

/** Starts dropbear with a new host key and a new local user (needs root). */
export async function startDropbear(): Promise<PrivateDropbear> {
  const dir = mkdtempSync(join(tmpdir(), "libssh-dropbear-"));
  let user: LocalUser | undefined;
  try {
    const hostKey = join(dir, "host_ed25519");
    const generated = await run("dropbearkey", ["-t", "ed25519", "-f", hostKey]);
    if (generated.code !== 0) throw new Error(`dropbearkey failed: ${generated.stderr}`);
    const publicKey = /^(ssh-ed25519 \S+)/m.exec(generated.stdout)?.[1];
    const fingerprint = /Fingerprint: (SHA256:\S+)/.exec(generated.stdout)?.[1];
    if (!publicKey || !fingerprint) throw new Error(`dropbearkey printed no key: ${generated.stdout}`);
    user = await createLocalUser();
    const sshDir = join(user.home, ".ssh");
    mkdirSync(sshDir, { mode: 0o700 });
    const authorizedKeys = join(sshDir, "authorized_keys");
    writeFileSync(authorizedKeys, "", { mode: 0o600 });
    // dropbear reads the file as the user and refuses one others could write.
    const uid = Number((await run("id", ["-u", user.name])).stdout);
    const gid = Number((await run("id", ["-g", user.name])).stdout);
    chownSync(sshDir, uid, gid);
    chownSync(authorizedKeys, uid, gid);
    for (let attempt = 1;; attempt++) {
      try {
        return await launch(dir, hostKey, publicKey, fingerprint, user, authorizedKeys);
      } catch (error) {
        if (attempt >= 3) throw error;
      }
    }
  } catch (error) {
    await user?.[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

async function launch(
  dir: string,
  hostKey: string,
  publicKey: string,
  fingerprint: string,
  user: LocalUser,
  authorizedKeys: string,
): Promise<PrivateDropbear> {
  const port = await freePort();
  const child = spawn("dropbear", [
    "-F",
    "-E",
    "-p",
    `127.0.0.1:${port}`,
    "-r",
    hostKey,
    "-P",
    join(dir, "pid"),
  ], {
    stdio: ["ignore", "ignore", "pipe"],
  });
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
  let closing: Promise<void> | undefined;
  return {
    port,
    pid: child.pid!,
    user,
    knownHostsLine: `[127.0.0.1]:${port} ${publicKey}`,
    fingerprint,
    log: () => log,
    authorize: (line) => writeFileSync(authorizedKeys, line.trim() + "\n", { flag: "a" }),
    [Symbol.asyncDispose]: () =>
      closing ??= (async () => {
        child.kill("SIGTERM");
        await exited;
        await user[Symbol.asyncDispose]();
        rmSync(dir, { recursive: true, force: true });
      })(),
  };
}
