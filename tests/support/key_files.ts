/**
 * OpenSSH key files for clients that log in by public key, in a temporary
 * folder removed on dispose.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A temporary folder of key files. */
export interface KeyFiles {
  readonly dir: string;
  /** Writes a new ed25519 key pair without passphrase (`NAME` and `NAME.pub`); returns the private key's path. */
  generate(name: string): string;
  [Symbol.dispose](): void;
}

/** A new, empty folder for key files (`using keys = keyFiles()`). */
export function keyFiles(): KeyFiles {
  const dir = mkdtempSync(join(tmpdir(), "libssh-test-keys-"));
  return {
    dir,
    generate: (name) => {
      const file = join(dir, name);
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file]);
      return file;
    },
    [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }),
  };
}
