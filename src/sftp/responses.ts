/**
 * What each request expects back: one parser per response kind. A status
 * other than OK becomes the request's `SshError` (`statusError`); a
 * response of a type the request cannot get is a malformed packet, which
 * ends the session.
 *
 * @module
 */

import { readAttributes, type SftpStats } from "./attributes.ts";
import { MalformedPacketError, type PacketReader, PacketType } from "./packet.ts";
import { STATUS_EOF, STATUS_OK, statusError } from "./status.ts";

/** A response body after its id. */
export interface Response {
  type: PacketType;
  reader: PacketReader;
  /**
   * A `DATA` response that came in several transport chunks: the views of
   * the bytes after its data length field, where `reader` ends.
   */
  data?: Uint8Array[];
}

/** Turns a response into a request's result; throws its error. */
export type Parse<T> = (response: Response) => T;

/**
 * One entry of a directory listing (`readdir`).
 *
 * @example
 * ```ts
 * import type { SftpClient } from "@libssh/libssh";
 *
 * async function subdirectories(sftp: SftpClient, path: string): Promise<string[]> {
 *   return (await sftp.readdir(path)).filter((entry) => entry.stats.isDirectory()).map((entry) => entry.name);
 * }
 * ```
 */
export interface SftpDirEntry {
  /** The file name, without its directory. */
  name: string;
  /** The server's `ls -l` style line for it (OpenSSH sends one; its format is not specified). */
  longname: string;
  /** Its attributes, as `lstat` would give them (a link is not followed). */
  stats: SftpStats;
}

/** Throws the request's error for a `STATUS` `code` (read already) other than OK. */
function failStatus(code: number, reader: PacketReader, operation: string, path: string): void {
  if (code === STATUS_OK) return;
  // The message and language tag are optional in practice: some servers end the packet after the code.
  const text = reader.remaining > 0 ? reader.text("status message") : "";
  throw statusError(operation, path, code, text);
}

/** A `STATUS` response: the request's error, or a normal return for OK. */
function throwStatus(response: Response, operation: string, path: string): void {
  failStatus(response.reader.uint32("status code"), response.reader, operation, path);
}

function unexpected(response: Response, operation: string): never {
  throw new MalformedPacketError(`response of type ${response.type} to ${operation}`);
}

/** The request succeeds with `STATUS` OK. */
export function expectOk(operation: string, path: string): Parse<void> {
  return (response) => {
    if (response.type !== PacketType.Status) unexpected(response, operation);
    throwStatus(response, operation, path);
  };
}

/** A `HANDLE` (copied out of the packet: it outlives it). */
export function expectHandle(operation: string, path: string): Parse<Uint8Array> {
  return (response) => {
    if (response.type === PacketType.Handle) return response.reader.bytes("handle").slice();
    if (response.type === PacketType.Status) throwStatus(response, operation, path);
    unexpected(response, operation);
  };
}

/** An `ATTRS`. */
export function expectAttributes(operation: string, path: string): Parse<SftpStats> {
  return (response) => {
    if (response.type === PacketType.Attrs) return readAttributes(response.reader);
    if (response.type === PacketType.Status) throwStatus(response, operation, path);
    unexpected(response, operation);
  };
}

/** `DATA` of at most `length` bytes (views of the packet, in one piece or more), or none for `STATUS` EOF. */
export function expectData(operation: string, path: string, length: number): Parse<Uint8Array[]> {
  return (response) => {
    if (response.type === PacketType.Data) {
      const data = response.data
        ? dataPieces(response.reader, response.data)
        : [response.reader.bytes("data")];
      const received = data.reduce((sum, piece) => sum + piece.length, 0);
      if (received > length) {
        throw new MalformedPacketError(`${received} bytes for a read of ${length}`);
      }
      return data;
    }
    if (response.type === PacketType.Status) {
      const code = response.reader.uint32("status code");
      if (code === STATUS_EOF) return [];
      failStatus(code, response.reader, operation, path);
    }
    unexpected(response, operation);
  };
}

/** The data of a `DATA` response that came in pieces, as long as its length field says. */
function dataPieces(reader: PacketReader, pieces: Uint8Array[]): Uint8Array[] {
  const declared = reader.uint32("data length");
  const data: Uint8Array[] = [];
  let missing = declared;
  for (const piece of pieces) {
    if (missing === 0) break;
    const n = Math.min(missing, piece.length);
    data.push(n === piece.length ? piece : piece.subarray(0, n));
    missing -= n;
  }
  if (missing > 0) {
    throw new MalformedPacketError(`data runs past the end of the packet (${declared - missing} bytes left)`);
  }
  return data;
}

/** A `NAME` with its entries, or `null` for `STATUS` EOF (the end of a listing). */
export function expectNames(operation: string, path: string): Parse<SftpDirEntry[] | null> {
  return (response) => {
    if (response.type === PacketType.Name) {
      const count = response.reader.uint32("name count");
      const entries: SftpDirEntry[] = [];
      // A lying count runs past the packet's end and throws: entries are at least 12 bytes each.
      for (let i = 0; i < count; i++) {
        entries.push({
          name: response.reader.text("file name"),
          longname: response.reader.text("long name"),
          stats: readAttributes(response.reader),
        });
      }
      return entries;
    }
    if (response.type === PacketType.Status) {
      const code = response.reader.uint32("status code");
      if (code === STATUS_EOF) return null;
      failStatus(code, response.reader, operation, path);
    }
    unexpected(response, operation);
  };
}

/** A `NAME` of exactly one entry, its name (`realpath`, `readlink`). */
export function expectOneName(operation: string, path: string): Parse<string> {
  const names = expectNames(operation, path);
  return (response) => {
    const entries = names(response);
    if (entries === null) throw statusError(operation, path, STATUS_EOF, "");
    if (entries.length !== 1) {
      throw new MalformedPacketError(`${entries.length} names in the reply to ${operation}`);
    }
    return entries[0].name;
  };
}

/** An `EXTENDED_REPLY`'s reader, positioned at its data. */
export function expectExtendedReply(operation: string, path: string): Parse<PacketReader> {
  return (response) => {
    if (response.type === PacketType.ExtendedReply) return response.reader;
    if (response.type === PacketType.Status) throwStatus(response, operation, path);
    unexpected(response, operation);
  };
}
