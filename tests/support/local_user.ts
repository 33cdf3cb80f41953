/**
 * A throw-away local user for servers that log real accounts in (dropbear
 * checks /etc/shadow; sshd delivers signals only to sessions of other users
 * than root). Created with `useradd` (needs root), removed with `userdel -r`.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./clients.ts";

/** A local account that exists until disposed. */
export interface LocalUser {
  readonly name: string;
  readonly password: string;
  readonly home: string;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Creates a user with a random name and password, and a home folder in the temp dir. */
export async function createLocalUser(): Promise<LocalUser> {
  const name = `lsst${randomBytes(4).toString("hex")}`;
  const password = randomBytes(12).toString("base64url");
  const parent = mkdtempSync(join(tmpdir(), "libssh-user-"));
  chmodSync(parent, 0o755); // the user must reach its home
  const home = join(parent, name);
  const added = await run("useradd", ["-m", "-d", home, "-s", "/bin/sh", name]);
  if (added.code !== 0) {
    rmSync(parent, { recursive: true, force: true });
    throw new Error(`useradd failed (the tests need root): ${added.stderr}`);
  }
  const remove = async (): Promise<void> => {
    await run("userdel", ["-r", "-f", name]);
    rmSync(parent, { recursive: true, force: true });
  };
  const set = await run("chpasswd", [], { input: `${name}:${password}\n` });
  if (set.code !== 0) {
    await remove();
    throw new Error(`chpasswd failed: ${set.stderr}`);
  }
  return { name, password, home, [Symbol.asyncDispose]: remove };
}
