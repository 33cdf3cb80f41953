/**
 * Why the native library could not be used. ffi/ stands below src/ and does
 * not know its error type: src/ turns this into an `SshError` with the same
 * `code`, message and cause.
 *
 * @module
 */

/** What went wrong while loading: the same strings as `SshError`'s codes for it. */
export type LoadErrorCode = "library-not-found" | "unsupported-version";

/** A failure to find, open or accept libssh (or the runtime's FFI). */
export class LoadError extends Error {
  /** What went wrong. */
  readonly code: LoadErrorCode;

  /** Creates the error; `cause` is the runtime's own error, when there is one. */
  constructor(code: LoadErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "LoadError";
    this.code = code;
  }
}
