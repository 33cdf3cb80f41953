/**
 * SFTP status codes (`SSH_FXP_STATUS`) and the `SshError` each becomes.
 *
 * @module
 */

import { SshError } from "../errors.ts";

/**
 * Why an SFTP request failed, as `error.status` of an `SshError` with code
 * `"sftp"`: the server's status code (SFTP version 3, draft-ietf-secsh-filexfer-02
 * §7) by name, or what the client saw itself (`"bad-message"` for a malformed
 * or oversized packet from the server, `"connection-lost"` when the transport
 * ended, `"op-unsupported"` for an extension the server does not offer).
 *
 * | status                | meaning                                                                  |
 * | --------------------- | ------------------------------------------------------------------------ |
 * | `"eof"`               | end of file, or of a directory listing, where data was expected          |
 * | `"no-such-file"`      | the path does not exist                                                  |
 * | `"permission-denied"` | the server's user may not do this                                        |
 * | `"failure"`           | any other failure; the message carries the server's text                 |
 * | `"bad-message"`       | a malformed packet (sent by the server, or one it says it got from us)   |
 * | `"no-connection"`     | no connection to the server                                              |
 * | `"connection-lost"`   | the transport ended while the request waited                             |
 * | `"op-unsupported"`    | the server does not implement the operation or extension                 |
 *
 * @example
 * ```ts
 * import { SshError } from "@libssh/libssh";
 *
 * function explain(e: unknown): string {
 *   if (e instanceof SshError && e.code === "sftp" && e.status === "no-such-file") return `${e.path} is missing`;
 *   return String(e);
 * }
 * console.log(explain(new Error("other")));
 * ```
 */
export type SftpStatus =
  | "eof"
  | "no-such-file"
  | "permission-denied"
  | "failure"
  | "bad-message"
  | "no-connection"
  | "connection-lost"
  | "op-unsupported";

/** `SSH_FX_*` codes of protocol version 3 that are errors. */
const STATUS_BY_CODE: Readonly<Record<number, SftpStatus>> = {
  1: "eof",
  2: "no-such-file",
  3: "permission-denied",
  4: "failure",
  5: "bad-message",
  6: "no-connection",
  7: "connection-lost",
  8: "op-unsupported",
};

/** `SSH_FX_OK`. */
export const STATUS_OK = 0;
/** `SSH_FX_EOF`. */
export const STATUS_EOF = 1;

/**
 * The error for a status the server answered to `operation` on `path`
 * ("stat /x: No such file"); codes of later protocol versions count as
 * `"failure"` and are named in the message.
 */
export function statusError(operation: string, path: string, code: number, serverText: string): SshError {
  const status = STATUS_BY_CODE[code] ?? "failure";
  const text = serverText || status.replaceAll("-", " ");
  const unknown = STATUS_BY_CODE[code] ? "" : ` (status ${code})`;
  return new SshError("sftp", `${operation} ${path}: ${text}${unknown}`, { status, path });
}

/** An error the client raises about the session itself (not about one path's request). */
export function sessionError(status: SftpStatus, message: string, cause?: unknown): SshError {
  return new SshError("sftp", message, { status, cause });
}
