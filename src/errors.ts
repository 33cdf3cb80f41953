/**
 * The one error type of this library.
 *
 * @module
 */

/** What went wrong, as a stable string to switch on. */
export type SshErrorCode =
  /** The object was closed; it can no longer be used. */
  | "closed"
  /** Key text or a key file could not be parsed. */
  | "invalid-key"
  /** The key is encrypted and the passphrase is missing or wrong. */
  | "wrong-passphrase"
  /** libssh could not be loaded (see `LIBSSH_PATH`). */
  | "library-not-found"
  /** The loaded libssh is older than 0.10. */
  | "unsupported-version"
  /** Binding or listening on the address failed. */
  | "listen-failed"
  /** The key exchange with the client failed. */
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
  | "command-failed";

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

  /** Creates an error; `libsshMessage` is appended to the message when given. */
  constructor(
    code: SshErrorCode,
    message: string,
    options: { libsshMessage?: string; cause?: unknown } = {},
  ) {
    const detail = options.libsshMessage ? `${message}: ${options.libsshMessage}` : message;
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SshError";
    this.code = code;
    this.libsshMessage = options.libsshMessage || undefined;
  }
}

/** The error every method of a closed object throws. */
export function closedError(what: string): SshError {
  return new SshError("closed", `${what} is closed`);
}
