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
  | "libssh";

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
    options?: { libsshMessage?: string; cause?: unknown },
  ) {
    const detail = options?.libsshMessage ? `${message}: ${options.libsshMessage}` : message;
    super(detail, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SshError";
    this.code = code;
    this.libsshMessage = options?.libsshMessage || undefined;
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
