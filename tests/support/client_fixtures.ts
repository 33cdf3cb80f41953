/**
 * Small helpers shared by the client tests: scratch folders, known_hosts
 * files, and asserting an `SshError` code.
 *
 * @module
 */

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SshError } from "../../mod.ts";

/** A scratch folder, removed by the returned disposer. */
export function scratch(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), "libssh-client-"));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes `lines` as `dir/known_hosts` and returns its path. */
export function knownHostsFile(dir: string, ...lines: string[]): string {
  const file = join(dir, "known_hosts");
  writeFileSync(file, lines.map((line) => `${line}\n`).join(""));
  return file;
}

/** Asserts that `promise` rejects with an `SshError` of `code`; returns the error. */
export async function rejectsWith(promise: Promise<unknown>, code: string): Promise<SshError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof SshError, `expected SshError ${code}, got ${error}`);
  assert.equal(error.code, code, error.message);
  return error;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
