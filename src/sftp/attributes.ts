/**
 * File attributes (`ATTRS` of SFTP version 3): what `stat` returns
 * (`SftpStats`) and what `setstat` and `open` send (`SftpAttributes`).
 *
 * @module
 */

import type { PacketReader, PacketWriter } from "./packet.ts";

const SIZE = 0x1;
const UIDGID = 0x2;
const PERMISSIONS = 0x4;
const ACMODTIME = 0x8;
const EXTENDED = 0x80000000;

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/**
 * Attributes to set (`setstat`, `SftpFile.setstat`, `open`'s mode); only
 * the fields given are sent. Times are a `Date` or seconds since the epoch,
 * as in `node:fs`'s `utimes`; `atime` and `mtime` go together (the protocol
 * sets both or neither).
 *
 * @example
 * ```ts
 * import type { SftpAttributes } from "@libssh/libssh";
 *
 * const attributes: SftpAttributes = { mode: 0o640, mtime: new Date(), atime: new Date() };
 * console.log(attributes);
 * ```
 */
export interface SftpAttributes {
  /** Truncates or extends the file to this many bytes. */
  size?: number;
  /** Owner user id; needs `gid` too. */
  uid?: number;
  /** Owner group id; needs `uid` too. */
  gid?: number;
  /** Permission bits (`0o644`). */
  mode?: number;
  /** Last access time; needs `mtime` too. */
  atime?: Date | number;
  /** Last modification time; needs `atime` too. */
  mtime?: Date | number;
}

/**
 * What the server said about a file (`stat`, `lstat`, `SftpFile.stat`,
 * `readdir`). A field the server left out is `undefined`.
 *
 * @example
 * ```ts
 * import type { SftpStats } from "@libssh/libssh";
 *
 * function describe(stats: SftpStats): string {
 *   const kind = stats.isDirectory() ? "directory" : stats.isSymbolicLink() ? "link" : "file";
 *   return `${kind}, ${stats.size} bytes, mode ${stats.mode?.toString(8)}`;
 * }
 * ```
 */
export class SftpStats {
  /** Size in bytes. */
  readonly size: number | undefined;
  /** Owner user id. */
  readonly uid: number | undefined;
  /** Owner group id. */
  readonly gid: number | undefined;
  /** File type and permission bits, as `st_mode` (`0o100644` for a regular file). */
  readonly mode: number | undefined;
  /** Last access time (second precision). */
  readonly atime: Date | undefined;
  /** Last modification time (second precision). */
  readonly mtime: Date | undefined;

  /** Stats from decoded fields (the client makes them; see `stat`). */
  constructor(fields: {
    size?: number;
    uid?: number;
    gid?: number;
    mode?: number;
    atime?: Date;
    mtime?: Date;
  }) {
    this.size = fields.size;
    this.uid = fields.uid;
    this.gid = fields.gid;
    this.mode = fields.mode;
    this.atime = fields.atime;
    this.mtime = fields.mtime;
  }

  /** A regular file (false when the server sent no mode). */
  isFile(): boolean {
    return this.#type() === S_IFREG;
  }

  /** A directory (false when the server sent no mode). */
  isDirectory(): boolean {
    return this.#type() === S_IFDIR;
  }

  /** A symbolic link, as `lstat` and `readdir` report it (`stat` follows links). */
  isSymbolicLink(): boolean {
    return this.#type() === S_IFLNK;
  }

  #type(): number | undefined {
    return this.mode === undefined ? undefined : this.mode & S_IFMT;
  }
}

function seconds(time: Date | number, name: string): number {
  const value = typeof time === "number" ? time : time.getTime() / 1000;
  if (!Number.isFinite(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`${name} must be a time between 1970 and 2106 (a 32-bit count of seconds)`);
  }
  return Math.floor(value);
}

function checkUint32(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`${name} must be an integer from 0 to 2^32-1, not ${value}`);
  }
  return value;
}

/** Appends `attributes` as an `ATTRS` field; throws RangeError/TypeError for values the protocol cannot carry. */
export function writeAttributes(writer: PacketWriter, attributes: SftpAttributes = {}): void {
  const { size, uid, gid, mode, atime, mtime } = attributes;
  if ((uid === undefined) !== (gid === undefined)) throw new TypeError("uid and gid must be set together");
  if ((atime === undefined) !== (mtime === undefined)) {
    throw new TypeError("atime and mtime must be set together");
  }
  if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) {
    throw new RangeError(`size must be a non-negative integer, not ${size}`);
  }
  const flags = (size !== undefined ? SIZE : 0) | (uid !== undefined ? UIDGID : 0) |
    (mode !== undefined ? PERMISSIONS : 0) | (atime !== undefined ? ACMODTIME : 0);
  writer.uint32(flags);
  if (size !== undefined) writer.uint64(size);
  if (uid !== undefined) writer.uint32(checkUint32(uid, "uid")).uint32(checkUint32(gid!, "gid"));
  if (mode !== undefined) writer.uint32(checkUint32(mode, "mode"));
  if (atime !== undefined) writer.uint32(seconds(atime, "atime")).uint32(seconds(mtime!, "mtime"));
}

/** Reads an `ATTRS` field. */
export function readAttributes(reader: PacketReader): SftpStats {
  const flags = reader.uint32("attribute flags");
  const fields: ConstructorParameters<typeof SftpStats>[0] = {};
  if (flags & SIZE) fields.size = reader.uint64("size");
  if (flags & UIDGID) {
    fields.uid = reader.uint32("uid");
    fields.gid = reader.uint32("gid");
  }
  if (flags & PERMISSIONS) fields.mode = reader.uint32("permissions");
  if (flags & ACMODTIME) {
    fields.atime = new Date(reader.uint32("atime") * 1000);
    fields.mtime = new Date(reader.uint32("mtime") * 1000);
  }
  if (flags & EXTENDED) {
    // Skipped (nothing here uses them); a lying count runs past the packet's end and throws.
    const count = reader.uint32("extended attribute count");
    for (let i = 0; i < count; i++) {
      reader.bytes("extended attribute name");
      reader.bytes("extended attribute value");
    }
  }
  return new SftpStats(fields);
}
