/**
 * Small helpers shared by the client tests: scratch folders, known_hosts
 * files, logging in to the test servers, and asserting an `SshError` code.
 *
 * @module
 */

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ClientSession, connect, SshError } from "../../mod.ts";
import type { DemoServer } from "../../src/demo/mod.ts";
import type { PrivateSshd } from "./sshd.ts";

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

/** Logs in to a private sshd with its client key, as `user` (default: the sshd's own), its host key pinned. */
export function connectToSshd(sshd: PrivateSshd, user?: string): Promise<ClientSession> {
  return connect({
    host: "127.0.0.1",
    port: sshd.port,
    user: user ?? sshd.user,
    hostKey: { fingerprint: sshd.fingerprint },
    auth: { privateKey: sshd.clientKeyFile },
  });
}

/** Logs in to a DemoServer as `tester` with its password, its host key pinned. */
export function connectToDemo(ds: DemoServer): Promise<ClientSession> {
  return connect({
    host: "127.0.0.1",
    port: ds.port,
    user: "tester",
    hostKey: { key: ds.hostKey },
    auth: { password: ds.password },
  });
}
