/**
 * Checking the server's host key, before any credential is sent. libssh's
 * `ssh_connect` succeeds whatever the key: the check is ours.
 *
 * @module
 */

import {
  SSH_KNOWN_HOSTS_CHANGED,
  SSH_KNOWN_HOSTS_ERROR,
  SSH_KNOWN_HOSTS_NOT_FOUND,
  SSH_KNOWN_HOSTS_OK,
  SSH_KNOWN_HOSTS_OTHER,
  SSH_KNOWN_HOSTS_UNKNOWN,
  SSH_OK,
} from "../../ffi/constants.ts";
import { PointerCell } from "../../ffi/cstring.ts";
import { SshError } from "../errors.ts";
import { keyFromHandle, SshKey } from "../key.ts";
import type { ClientCore } from "./client_core.ts";

/**
 * What `known_hosts` says of the server's key (`ssh_session_is_known_server`),
 * with libssh's values.
 *
 * @example
 * ```ts
 * import { type ClientSession, KnownHosts } from "@libssh/libssh";
 *
 * declare const session: ClientSession; // connected with hostKey: { verify }
 * if (session.knownHostsStatus() === KnownHosts.Unknown) session.updateKnownHosts();
 * ```
 */
export enum KnownHosts {
  /** The files could not be read, or the key not compared. */
  Error = -2, // SSH_KNOWN_HOSTS_ERROR
  /** No known_hosts file exists. */
  NotFound = -1, // SSH_KNOWN_HOSTS_NOT_FOUND
  /** The host is in no known_hosts file. */
  Unknown = 0, // SSH_KNOWN_HOSTS_UNKNOWN
  /** The key is the one known for the host. */
  Ok = 1, // SSH_KNOWN_HOSTS_OK
  /** Another key of the same type is known for the host: possibly an attack. */
  Changed = 2, // SSH_KNOWN_HOSTS_CHANGED
  /** Only keys of other types are known for the host: possibly an attack. */
  Other = 3, // SSH_KNOWN_HOSTS_OTHER
}

/** Where `known_hosts` lines are read (and, with `accept-new`, written). */
export interface KnownHostsPolicy {
  /** The user's known_hosts file. Default `~/.ssh/known_hosts`. */
  knownHosts?: string;
  /** The system-wide file, read only; `false` reads none. Default `/etc/ssh/ssh_known_hosts`. */
  global?: string | false;
  /** What to do with a host no file knows: refuse (default), or trust it and append its key (`accept-new`, as OpenSSH's `StrictHostKeyChecking accept-new`). */
  unknown?: "reject" | "accept-new";
}

/** What a `verify` function is told besides the key. */
export interface HostKeyInfo {
  /** The host name the session connected to. */
  host: string;
  /** The port it connected to. */
  port: number;
  /** What the known_hosts files say of the key. */
  status: KnownHosts;
}

/**
 * How the server's host key is checked, before any credential is sent:
 *
 * - known_hosts files (the default: `~/.ssh/known_hosts` and the global file,
 *   an unknown host refused);
 * - `{ fingerprint: "SHA256:…" }`: the key's fingerprint, as `ssh-keygen -l`
 *   prints it (`MD5:…` works too);
 * - `{ key }`: the key itself, an `SshKey` or a public key line;
 * - `{ verify(key, info) }`: your function decides (it may be async);
 * - `"insecure-accept-any"`: no check at all. Anyone on the path can then
 *   read the session and the password; for throw-away test servers only.
 */
export type HostKeyPolicy =
  | KnownHostsPolicy
  | { fingerprint: string }
  | { key: SshKey | string }
  | { verify(key: SshKey, info: HostKeyInfo): boolean | Promise<boolean> }
  | "insecure-accept-any";

const STATUS_VALUES = new Set<number>([
  SSH_KNOWN_HOSTS_ERROR,
  SSH_KNOWN_HOSTS_NOT_FOUND,
  SSH_KNOWN_HOSTS_UNKNOWN,
  SSH_KNOWN_HOSTS_OK,
  SSH_KNOWN_HOSTS_CHANGED,
  SSH_KNOWN_HOSTS_OTHER,
]);

/** The known_hosts part of a policy (other policies leave libssh's default files). */
export function knownHostsFiles(policy: HostKeyPolicy | undefined): KnownHostsPolicy {
  if (policy === undefined) return {};
  if (policy === "insecure-accept-any") return {};
  if (typeof policy !== "object" || policy === null) {
    throw new TypeError(`hostKey must be an object or "insecure-accept-any", not ${String(policy)}`);
  }
  const kinds = ["fingerprint", "key", "verify"].filter((name) => name in policy);
  if (kinds.length > 1) throw new TypeError(`hostKey takes one of fingerprint, key or verify, not ${kinds}`);
  if (kinds.length === 1) return {};
  const files = policy as KnownHostsPolicy;
  if (files.knownHosts !== undefined && typeof files.knownHosts !== "string") {
    throw new TypeError("hostKey.knownHosts must be a file path");
  }
  if (files.global !== undefined && files.global !== false && typeof files.global !== "string") {
    throw new TypeError("hostKey.global must be a file path or false");
  }
  if (files.unknown !== undefined && files.unknown !== "reject" && files.unknown !== "accept-new") {
    throw new TypeError(`hostKey.unknown must be "reject" or "accept-new", not ${String(files.unknown)}`);
  }
  return files;
}

/** The server's host key, as the key exchange gave it. */
export function serverKey(core: ClientCore): SshKey {
  const cell = new PointerCell();
  core.check(
    core.backend.libssh.ssh_get_server_publickey(core.handle, cell.buffer),
    "reading the server's host key",
  );
  return keyFromHandle(cell.get(core.backend));
}

/** What the known_hosts files say of the server's key. */
export function knownHostsStatus(core: ClientCore): KnownHosts {
  const status = core.backend.libssh.ssh_session_is_known_server(core.handle);
  return STATUS_VALUES.has(status) ? status as KnownHosts : KnownHosts.Error;
}

/** The server's key as a known_hosts line (`[host]:port type base64` off port 22). */
export function knownHostsEntry(core: ClientCore): string {
  const cell = new PointerCell();
  const { backend } = core;
  core.check(
    backend.libssh.ssh_session_export_known_hosts_entry(core.handle, cell.buffer),
    "exporting the known_hosts entry",
  );
  const text = cell.get(backend);
  const line = backend.readCString(text) ?? "";
  backend.libssh.ssh_string_free_char(text);
  return line.trim();
}

/** Appends the server's key to the user's known_hosts file. */
export function updateKnownHosts(core: ClientCore): void {
  if (core.backend.libssh.ssh_session_update_known_hosts(core.handle) !== SSH_OK) {
    throw new SshError("io", "writing the known_hosts file failed", { libsshMessage: core.errorText() });
  }
}

/** A public key from a `type base64 [comment]` line, or a known_hosts line (`host type base64`). */
function pinnedKey(key: SshKey | string): SshKey {
  if (key instanceof SshKey) return key;
  if (typeof key !== "string") throw new TypeError("hostKey.key must be an SshKey or a public key line");
  try {
    return SshKey.fromPublicKey(key);
  } catch (error) {
    const rest = key.trim().split(/\s+/).slice(1).join(" ");
    if (rest === "") throw error;
    return SshKey.fromPublicKey(rest);
  }
}

function describe(key: SshKey): string {
  return `${key.algorithm} ${key.fingerprint()}`;
}

/**
 * Applies `policy` to the server's key; throws `host-key-unknown`,
 * `host-key-changed` or `host-key-rejected`.
 */
export async function checkHostKey(
  core: ClientCore,
  policy: HostKeyPolicy | undefined,
  host: string,
  port: number,
): Promise<void> {
  if (policy === "insecure-accept-any") return;
  using key = serverKey(core);
  const where = port === 22 ? host : `[${host}]:${port}`;
  if (policy !== undefined && "fingerprint" in policy) {
    const expected = policy.fingerprint;
    const hash = /^MD5:/i.test(expected) ? "md5" : /^SHA1:/i.test(expected) ? "sha1" : "sha256";
    const actual = key.fingerprint(hash);
    // Hex is case-insensitive; base64 is not. A bare SHA256 hash (no prefix) is accepted too.
    const matches = hash === "md5"
      ? actual.toLowerCase() === expected.toLowerCase()
      : actual === expected || actual === `SHA256:${expected}`;
    if (!matches) {
      throw new SshError(
        "host-key-rejected",
        `the host key of ${where} is ${actual}, not the pinned ${expected}`,
      );
    }
    return;
  }
  if (policy !== undefined && "key" in policy) {
    const pinned = pinnedKey(policy.key);
    try {
      if (!pinned.equals(key)) {
        throw new SshError(
          "host-key-rejected",
          `the host key of ${where} (${describe(key)}) is not the pinned key`,
        );
      }
    } finally {
      if (pinned !== policy.key) pinned.close();
    }
    return;
  }
  if (policy !== undefined && "verify" in policy) {
    let accepted: unknown;
    try {
      accepted = await policy.verify(key, { host, port, status: knownHostsStatus(core) });
    } catch (cause) {
      throw new SshError("host-key-rejected", `verify() threw for the host key of ${where}`, { cause });
    }
    if (accepted !== true) {
      throw new SshError("host-key-rejected", `verify() refused the host key of ${where} (${describe(key)})`);
    }
    return;
  }
  const files = knownHostsFiles(policy);
  const status = knownHostsStatus(core);
  switch (status) {
    case KnownHosts.Ok:
      return;
    case KnownHosts.Changed:
    case KnownHosts.Other:
      throw new SshError(
        "host-key-changed",
        `the host key of ${where} (${describe(key)}) differs from the one in known_hosts: ` +
          "someone may be intercepting the connection, or the host key was replaced " +
          "(then remove the old line: ssh-keygen -R)",
      );
    case KnownHosts.Unknown:
    case KnownHosts.NotFound:
      if (files.unknown === "accept-new") {
        updateKnownHosts(core);
        return;
      }
      throw new SshError(
        "host-key-unknown",
        `the host key of ${where} (${describe(key)}) is not in known_hosts` +
          `${files.knownHosts ? ` (${files.knownHosts})` : ""}: add it after checking its fingerprint, ` +
          `or pin it with hostKey: { fingerprint: "${key.fingerprint()}" }, or use hostKey: { unknown: "accept-new" }`,
      );
    default:
      throw new SshError("host-key-rejected", `the known_hosts files could not be checked for ${where}`, {
        libsshMessage: core.errorText(),
      });
  }
}
