/**
 * The one error type of this library.
 *
 * @module
 */

import type { SftpStatus } from "./sftp/status.ts";

/**
 * What went wrong, as a stable string to switch on (`error.code`):
 *
 * | code                    | meaning                                                                                                          |
 * | ----------------------- | ---------------------------------------------------------------------------------------------------------------- |
 * | `"closed"`              | the object was closed (`close()`, or its session ended); every method but `close()` throws it                    |
 * | `"invalid-key"`         | key text or a key file is no key libssh can read, or a public key was given where a private one is needed        |
 * | `"wrong-passphrase"`    | the private key is encrypted and the passphrase is missing or wrong: pass `{ passphrase }`                       |
 * | `"library-not-found"`   | libssh could not be loaded: not installed, `LIBSSH_PATH` wrong, or Deno without `--allow-ffi`                    |
 * | `"unsupported-version"` | the libssh found is older than 0.10                                                                              |
 * | `"listen-failed"`       | a `Bind` could not listen: address taken or invalid, a bad algorithm list, the host key refused                  |
 * | `"key-exchange-failed"` | the key exchange failed: `connect()` rejects with it; `handleKeyExchange()` resolves false instead               |
 * | `"disconnected"`        | the peer left or the session ended while an operation waited (`write()`, a read, a command, a request)           |
 * | `"aborted"`             | an operation was stopped through its `AbortSignal` (a connect, a command, a channel open, an SFTP transfer)     |
 * | `"io"`                  | a file could not be read: the message names it and says why (not found, permission denied, …)                    |
 * | `"libssh"`              | any other failure libssh reported; its own text is in `libsshMessage`                                            |
 * | `"connect-failed"`      | the client could not reach the server: the name did not resolve, or no address took the TCP connection (`cause`) |
 * | `"timeout"`             | the client's `connectTimeout`, a command's `timeout` or the keepalive ran out                                    |
 * | `"host-key-unknown"`    | the server's host key is in no known_hosts file: check its fingerprint, then add it or pin it (`hostKey`)        |
 * | `"host-key-changed"`    | known_hosts holds another key for the server: someone may be intercepting, or the key was replaced               |
 * | `"host-key-rejected"`   | the host key is not the pinned key or fingerprint, or `hostKey.verify` refused it                                |
 * | `"auth-failed"`         | the server accepted none of the credentials: `AuthFailedError.methods` says what it still takes                  |
 * | `"channel-open-failed"` | the server refused to open a channel (a direct-tcpip target down): `ChannelOpenError.reason`                     |
 * | `"request-denied"`      | the server refused a request: an env variable (sshd's `AcceptEnv`), a pty, a command, a port forwarding          |
 * | `"command-failed"`      | `run(…, { check: true })` and the exit status was not 0: `CommandFailedError.result`                             |
 * | `"sftp"`                | an SFTP request failed or the SFTP session broke: `status` says why, `path` names the file                       |
 *
 * @example
 * ```ts
 * import { SshError, type SshErrorCode, SshKey } from "@libssh/libssh";
 *
 * const advice: Partial<Record<SshErrorCode, string>> = {
 *   "io": "check the path",
 *   "wrong-passphrase": "pass { passphrase }",
 * };
 * try {
 *   SshKey.fromFile("/nonexistent/id_ed25519");
 * } catch (e) {
 *   if (e instanceof SshError) console.log(advice[e.code] ?? e.message);
 * }
 * ```
 */
export type SshErrorCode =
  /** The object was closed; it can no longer be used. */
  | "closed"
  /** Key text or a key file could not be parsed. */
  | "invalid-key"
  /** The key is encrypted and the passphrase is missing or wrong. */
  | "wrong-passphrase"
  /** libssh could not be loaded: not installed, `LIBSSH_PATH` wrong, or Deno without `--allow-ffi`. */
  | "library-not-found"
  /** The loaded libssh is older than 0.10. */
  | "unsupported-version"
  /** Binding or listening on the address failed. */
  | "listen-failed"
  /** The key exchange failed (the server API resolves `handleKeyExchange()` to false instead). */
  | "key-exchange-failed"
  /** The peer went away or the session broke. */
  | "disconnected"
  /** An operation was aborted through its `AbortSignal`. */
  | "aborted"
  /** A file could not be read or written. */
  | "io"
  /** Any other failure reported by libssh. */
  | "libssh"
  /** The client could not reach the server: the name did not resolve or no address accepted the TCP connection. */
  | "connect-failed"
  /** The client's `connectTimeout` (or a command's `timeout`, or keepalive) ran out. */
  | "timeout"
  /** The server's host key is not in known_hosts (and `unknown: "accept-new"` was not given). */
  | "host-key-unknown"
  /** known_hosts holds another key for the server: possibly a man-in-the-middle. */
  | "host-key-changed"
  /** The host key did not match the pinned key or fingerprint, or `verify` refused it. */
  | "host-key-rejected"
  /** No authentication method the server accepts succeeded (see `AuthFailedError`). */
  | "auth-failed"
  /** The server refused to open a channel (see `ChannelOpenError`). */
  | "channel-open-failed"
  /** The server refused a request: an environment variable, a pty, a command, a port forwarding. */
  | "request-denied"
  /** `run(…, { check: true })`: the command exited with another status than 0 (see `CommandFailedError`). */
  | "command-failed"
  /** An SFTP request failed (`status`, `path`) or the SFTP session broke. */
  | "sftp";

/**
 * An error from this library: `code` says what kind, `message` carries
 * libssh's own explanation where it gave one.
 *
 * @example Telling errors apart
 * ```ts
 * import { SshError, SshKey } from "@libssh/libssh";
 *
 * try {
 *   SshKey.fromPrivateKey("not a key");
 * } catch (e) {
 *   if (e instanceof SshError && e.code === "invalid-key") console.log("bad key text");
 * }
 * ```
 */
export class SshError extends Error {
  /** What went wrong. */
  readonly code: SshErrorCode;
  /** libssh's message (`ssh_get_error`), when libssh reported one. */
  readonly libsshMessage: string | undefined;
  /** Code `"sftp"`: why the request failed (`"no-such-file"`, `"permission-denied"`, …). */
  readonly status: SftpStatus | undefined;
  /** Code `"sftp"`: the remote path the failed request named, if it named one. */
  readonly path: string | undefined;

  /** Creates an error; `libsshMessage` is appended to the message when given. */
  constructor(
    code: SshErrorCode,
    message: string,
    options?: { libsshMessage?: string; cause?: unknown; status?: SftpStatus; path?: string },
  ) {
    const detail = options?.libsshMessage ? `${message}: ${options.libsshMessage}` : message;
    super(detail, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SshError";
    this.code = code;
    this.libsshMessage = options?.libsshMessage || undefined;
    this.status = options?.status;
    this.path = options?.path;
  }
}

/**
 * The error for a file that could not be read: `what` names it (`"host key
 * file /etc/key"`), `cause` is the file system's error.
 */
export function fileError(what: string, cause: unknown): SshError {
  const reason = ({
    ENOENT: `${what} not found`,
    EACCES: `${what} is not readable (permission denied)`,
    EISDIR: `${what} is a directory`,
  } as Record<string, string>)[(cause as { code?: string } | undefined)?.code ?? ""];
  return new SshError("io", reason ?? `cannot read ${what}: ${(cause as Error)?.message ?? cause}`, {
    cause,
  });
}

/** The error every method of a closed object throws. */
export function closedError(what: string): SshError {
  return new SshError("closed", `${what} is closed`);
}
