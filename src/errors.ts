/**
 * The one error type of this library.
 *
 * @module
 */

import type { SftpStatus } from "./sftp/status.ts";

/**
 * What went wrong, as a stable string to switch on (`error.code`):
 *
 * | code                    | meaning                                                                                           |
 * | ----------------------- | ------------------------------------------------------------------------------------------------- |
 * | `"closed"`              | the object was closed (`close()`, or its session ended); every method but `close()` throws it     |
 * | `"invalid-key"`         | key text or a key file is no key libssh can read, or a public key was given where a private one is needed |
 * | `"wrong-passphrase"`    | the private key is encrypted and the passphrase is missing or wrong: pass `{ passphrase }`        |
 * | `"library-not-found"`   | libssh could not be loaded: not installed, `LIBSSH_PATH` wrong, or Deno without `--allow-ffi`     |
 * | `"unsupported-version"` | the libssh found is older than 0.10                                                               |
 * | `"listen-failed"`       | a `Bind` could not listen: address taken or invalid, a bad algorithm list, the host key refused   |
 * | `"key-exchange-failed"` | the key exchange failed; the server API does not throw it (`handleKeyExchange()` resolves false)   |
 * | `"disconnected"`        | the client left or the session was closed while an operation waited (`write()`, a read)          |
 * | `"aborted"`             | an operation was stopped through its `AbortSignal`; nothing of the server API throws it yet       |
 * | `"io"`                  | a file could not be read: the message names it and says why (not found, permission denied, …)    |
 * | `"libssh"`              | any other failure libssh reported; its own text is in `libsshMessage`                             |
 * | `"sftp"`                | an SFTP request failed or the SFTP session broke: `status` says why, `path` names the file        |
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
  /** An operation was aborted through its `AbortSignal` (nothing of the server API throws it yet). */
  | "aborted"
  /** A file could not be read or written. */
  | "io"
  /** Any other failure reported by libssh. */
  | "libssh"
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
