/**
 * `SftpClient`: SFTP version 3 (and OpenSSH's extensions) in TypeScript,
 * over any byte pipe: an SSH channel's `sftp` subsystem, or an
 * `sftp-server` process.
 *
 * @module
 */

import { SshError } from "../errors.ts";
import { DATA_HEADER_LENGTH, type SftpClientOptions, SftpSession, type SftpTransport } from "./_session.ts";
import { type SftpAttributes, type SftpStats, writeAttributes } from "./attributes.ts";
import {
  type ChunkSizes,
  closingAfter,
  type FileContext,
  openedFile,
  positiveOption,
  type SftpFile,
} from "./file.ts";
import { type PacketReader, PacketType, type PacketWriter } from "./packet.ts";
import {
  expectAttributes,
  expectExtendedReply,
  expectHandle,
  expectNames,
  expectOk,
  expectOneName,
  type Parse,
  type SftpDirEntry,
} from "./responses.ts";
import {
  checkTransferOptions,
  downloadTo,
  readWhole,
  type SftpReadFileOptions,
  type SftpTransferOptions,
  uploadFrom,
  writeWhole,
} from "./transfer.ts";

/**
 * How `open` opens a file, as in `node:fs`: `"r"` read; `"r+"` read and
 * write; `"w"` write, created or truncated; `"wx"` write, created, failing if
 * it exists; `"a"` append, created; `"ax"` append, failing if it exists; a
 * `+` adds reading to the write modes.
 *
 * @example
 * ```ts
 * import type { SftpClient, SftpOpenFlags } from "@libssh/libssh";
 *
 * async function create(sftp: SftpClient, path: string, mustBeNew: boolean): Promise<void> {
 *   const flags: SftpOpenFlags = mustBeNew ? "wx" : "w";
 *   await using file = await sftp.open(path, flags, 0o600);
 *   await file.write("fresh\n", 0);
 * }
 * ```
 */
export type SftpOpenFlags = "r" | "r+" | "w" | "w+" | "wx" | "wx+" | "a" | "a+" | "ax" | "ax+";

const READ = 0x1;
const WRITE = 0x2;
const APPEND = 0x4;
const CREATE = 0x8;
const TRUNCATE = 0x10;
const EXCLUSIVE = 0x20;

/** `SSH_FXF_*` bits of each mode. */
const OPEN_FLAGS: Readonly<Record<SftpOpenFlags, number>> = {
  "r": READ,
  "r+": READ | WRITE,
  "w": WRITE | CREATE | TRUNCATE,
  "w+": READ | WRITE | CREATE | TRUNCATE,
  "wx": WRITE | CREATE | EXCLUSIVE,
  "wx+": READ | WRITE | CREATE | EXCLUSIVE,
  "a": WRITE | CREATE | APPEND,
  "a+": READ | WRITE | CREATE | APPEND,
  "ax": WRITE | CREATE | APPEND | EXCLUSIVE,
  "ax+": READ | WRITE | CREATE | APPEND | EXCLUSIVE,
};

/** Chunk size when the server states no limits (every SFTP server takes 32 KiB reads and writes). */
const DEFAULT_CHUNK = 32 * 1024;

/**
 * Options of `SftpClient.mkdir`.
 *
 * @example
 * ```ts
 * import type { SftpMkdirOptions } from "@libssh/libssh";
 *
 * const options: SftpMkdirOptions = { mode: 0o750, recursive: true };
 * ```
 */
export interface SftpMkdirOptions {
  /** Permission bits of the new directories (the server's umask applies). Default: the server's default. */
  mode?: number;
  /** Creates missing parents too, and succeeds if the directory exists (as `mkdir -p`). Default false. */
  recursive?: boolean;
}

/**
 * Options of `SftpClient.rename`.
 *
 * @example
 * ```ts
 * import type { SftpRenameOptions } from "@libssh/libssh";
 *
 * const options: SftpRenameOptions = { overwrite: true };
 * ```
 */
export interface SftpRenameOptions {
  /**
   * Replaces an existing target atomically (POSIX `rename`, through
   * `posix-rename@openssh.com`; `op-unsupported` without it). Default false:
   * the protocol's rename, which fails if the target exists.
   */
  overwrite?: boolean;
}

/**
 * Options of `SftpClient.readdir`.
 *
 * @example
 * ```ts
 * import type { SftpReaddirOptions } from "@libssh/libssh";
 *
 * const options: SftpReaddirOptions = { maxEntries: 50_000 };
 * ```
 */
export interface SftpReaddirOptions {
  /** The most entries listed; a longer listing rejects with `SshError` `"sftp"` / `"failure"`. Default 1,000,000. */
  maxEntries?: number;
}

/** The default of `SftpReaddirOptions.maxEntries`. */
const DEFAULT_MAX_ENTRIES = 1_000_000;

/**
 * Options of `SftpClient.writeFile`.
 *
 * @example
 * ```ts
 * import type { SftpWriteFileOptions } from "@libssh/libssh";
 *
 * const options: SftpWriteFileOptions = { mode: 0o600, flags: "wx" };
 * ```
 */
export interface SftpWriteFileOptions extends SftpTransferOptions {
  /** Permission bits if the file is created. Default 0o666 (the server's umask applies). */
  mode?: number;
  /** How the file is opened (`"w"`, `"wx"`, `"a"`, …). Default `"w"`. */
  flags?: SftpOpenFlags;
}

/**
 * A file system's figures (`statvfs@openssh.com`), as `statvfs(3)` gives them.
 *
 * @example
 * ```ts
 * import type { SftpStatvfs } from "@libssh/libssh";
 *
 * const freeBytes = (s: SftpStatvfs): number => s.availableBlocks * s.fragmentSize;
 * ```
 */
export interface SftpStatvfs {
  /** File system block size (`f_bsize`). */
  blockSize: number;
  /** Fundamental block size (`f_frsize`): the unit of the block counts. */
  fragmentSize: number;
  /** Size of the file system in `fragmentSize` units (`f_blocks`). */
  blocks: number;
  /** Free blocks (`f_bfree`). */
  freeBlocks: number;
  /** Free blocks for unprivileged users (`f_bavail`). */
  availableBlocks: number;
  /** Inodes (`f_files`). */
  files: number;
  /** Free inodes (`f_ffree`). */
  freeFiles: number;
  /** Free inodes for unprivileged users (`f_favail`). */
  availableFiles: number;
  /** File system id (`f_fsid`). */
  fsid: bigint;
  /** Mount flags: 0x1 read-only, 0x2 no set-uid (`f_flag`, as OpenSSH maps them). */
  flags: number;
  /** Longest file name (`f_namemax`). */
  nameMax: number;
}

/**
 * The server's limits (`limits@openssh.com`); 0 means the server set none.
 *
 * @example
 * ```ts
 * import type { SftpLimits } from "@libssh/libssh";
 *
 * const describe = (l: SftpLimits): string => `reads of ${l.maxReadLength} bytes, ${l.maxOpenHandles} handles`;
 * ```
 */
export interface SftpLimits {
  /** Longest packet the server accepts. */
  maxPacketLength: number;
  /** Most bytes one read returns. */
  maxReadLength: number;
  /** Most bytes one write takes. */
  maxWriteLength: number;
  /** Most files open at once. */
  maxOpenHandles: number;
}

/** The directory part of a remote (POSIX) path, or the path itself at the root. */
function parentOf(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  const slash = trimmed.lastIndexOf("/");
  return slash > 0 ? trimmed.slice(0, slash) : slash === 0 ? "/" : trimmed === "" ? path : ".";
}

function isSftpError(error: unknown): error is SshError {
  return error instanceof SshError && error.code === "sftp";
}

/**
 * An SFTP client: the file operations of SFTP version 3 plus OpenSSH's
 * extensions (`posix-rename`, `statvfs`, `hardlink`, `fsync`, `limits`),
 * with many requests in flight at once (each answered by id) and the
 * transport's back-pressure respected. Every failure is an `SshError` with
 * code `"sftp"`, a `status` (`"no-such-file"`, `"permission-denied"`, …) and
 * the `path`. A malformed or oversized packet from the server ends the
 * session (`"bad-message"`); then, as after `close()`, every request still
 * waiting rejects and every method throws `SshError` `"closed"`.
 *
 * `SftpClient.over(transport)` starts a session over any byte pipe; the SSH
 * client's `session.sftp()` does so over an `sftp` subsystem channel.
 *
 * @example Through `ssh -s` (OpenSSH's client as the transport)
 * ```ts
 * import { spawn } from "node:child_process";
 * import { Readable, Writable } from "node:stream";
 * import { SftpClient } from "@libssh/libssh";
 *
 * const ssh = spawn("ssh", ["-s", "me@example.com", "sftp"], { stdio: ["pipe", "pipe", "inherit"] });
 * await using sftp = await SftpClient.over({
 *   readable: Readable.toWeb(ssh.stdout) as ReadableStream<Uint8Array>,
 *   writable: Writable.toWeb(ssh.stdin),
 * });
 * for (const entry of await sftp.readdir(".")) console.log(entry.name, entry.stats.size);
 * await sftp.download("big.iso", "./big.iso", { onProgress: (n, total) => console.log(n, total) });
 * ```
 */
export class SftpClient {
  readonly #session: SftpSession;
  readonly #extensions: ReadonlyMap<string, string>;
  readonly #limits: SftpLimits | undefined;
  readonly #files: FileContext;

  private constructor(session: SftpSession, extensions: Map<string, string>, limits: SftpLimits | undefined) {
    this.#session = session;
    this.#extensions = extensions;
    this.#limits = limits;
    const packetRoom = session.maxPacketLength - DATA_HEADER_LENGTH;
    const read: ChunkSizes = {
      default: Math.min(limits?.maxReadLength || DEFAULT_CHUNK, packetRoom),
      max: Math.min(limits?.maxReadLength || Infinity, packetRoom),
    };
    const write: ChunkSizes = {
      default: limits?.maxWriteLength || DEFAULT_CHUNK,
      max: limits?.maxWriteLength || Infinity,
    };
    this.#files = { session, read, write, fsync: this.#has("fsync@openssh.com", "1") };
  }

  /**
   * Starts an SFTP session over `transport` (version handshake, then the
   * server's limits if it offers `limits@openssh.com`). If the handshake
   * fails, the transport is closed and the promise rejects.
   */
  static async over(transport: SftpTransport, options?: SftpClientOptions): Promise<SftpClient> {
    options ??= {};
    const session = new SftpSession(transport, options);
    try {
      const extensions = await session.start(options.signal);
      const limits = extensions.get("limits@openssh.com") === "1"
        ? await session.request(
          PacketType.Extended,
          (w) => w.string("limits@openssh.com"),
          parseLimits,
        )
        : undefined;
      return new SftpClient(session, extensions, limits);
    } catch (error) {
      await session.close();
      throw error;
    }
  }

  /** The extensions the server announced (name → version), e.g. `posix-rename@openssh.com` → `"1"`. */
  get extensions(): ReadonlyMap<string, string> {
    return this.#extensions;
  }

  /** Requests sent and not answered yet (0 once a transfer ended, even an aborted one). */
  get pendingRequests(): number {
    return this.#session.pendingRequests;
  }

  /** True until `close()`, or until the session broke. */
  get isOpen(): boolean {
    return this.#session.isOpen;
  }

  #has(extension: string, version: string): boolean {
    return this.#extensions.get(extension) === version;
  }

  #request<T>(type: PacketType, build: (w: PacketWriter) => void, parse: Parse<T>): Promise<T> {
    return this.#session.request(type, build, parse);
  }

  async #extended<T>(
    operation: string,
    path: string,
    extension: string,
    version: string,
    build: (w: PacketWriter) => void,
    parse: Parse<T>,
  ): Promise<T> {
    this.#session.live();
    if (!this.#has(extension, version)) {
      throw new SshError("sftp", `${operation} ${path}: the server does not support ${extension}`, {
        status: "op-unsupported",
        path,
      });
    }
    return await this.#request(PacketType.Extended, (w) => build(w.string(extension)), parse);
  }

  /** A path's attributes, following symbolic links. */
  stat(path: string): Promise<SftpStats> {
    return this.#request(PacketType.Stat, (w) => w.string(path), expectAttributes("stat", path));
  }

  /** A path's attributes; a symbolic link is described itself, not followed. */
  lstat(path: string): Promise<SftpStats> {
    return this.#request(PacketType.Lstat, (w) => w.string(path), expectAttributes("lstat", path));
  }

  /** The entries of a directory, without `.` and `..`, in the server's order. */
  async readdir(path: string, options?: SftpReaddirOptions): Promise<SftpDirEntry[]> {
    options ??= {};
    this.#session.live(); // before the arguments: after close(), every call says "closed"
    const maxEntries = positiveOption(options.maxEntries, "maxEntries", DEFAULT_MAX_ENTRIES);
    const handle = await this.#request(
      PacketType.Opendir,
      (w) => w.string(path),
      expectHandle("readdir", path),
    );
    const entries: SftpDirEntry[] = [];
    try {
      const readdir = expectNames("readdir", path);
      for (;;) {
        const batch = await this.#request(PacketType.Readdir, (w) => w.string(handle), readdir);
        if (batch === null) break;
        for (const entry of batch) if (entry.name !== "." && entry.name !== "..") entries.push(entry);
        if (entries.length > maxEntries) {
          throw new SshError("sftp", `readdir ${path}: more than maxEntries (${maxEntries}) entries`, {
            status: "failure",
            path,
          });
        }
      }
    } finally {
      if (this.#session.isOpen) {
        await this.#request(PacketType.Close, (w) => w.string(handle), expectOk("close", path)).catch(
          () => {},
        );
      }
    }
    return entries;
  }

  #mkdir(path: string, mode: number | undefined): Promise<void> {
    return this.#request(
      PacketType.Mkdir,
      (w) => writeAttributes(w.string(path), mode === undefined ? {} : { mode }),
      expectOk("mkdir", path),
    );
  }

  /** Creates a directory; `recursive` creates its missing parents and accepts one that exists. */
  async mkdir(path: string, options?: SftpMkdirOptions): Promise<void> {
    options ??= {};
    this.#session.live();
    const { mode, recursive = false } = options;
    try {
      await this.#mkdir(path, mode);
    } catch (error) {
      if (!recursive || !isSftpError(error)) throw error;
      const existing = await this.stat(path).catch(() => undefined);
      if (existing?.isDirectory()) return;
      const parent = parentOf(path);
      if (existing || parent === path) throw error;
      await this.mkdir(parent, { mode, recursive });
      await this.#mkdir(path, mode).catch(async (again) => {
        if (!(await this.stat(path).catch(() => undefined))?.isDirectory()) throw again; // made meanwhile: fine
      });
    }
  }

  /** Removes an empty directory. */
  rmdir(path: string): Promise<void> {
    return this.#request(PacketType.Rmdir, (w) => w.string(path), expectOk("rmdir", path));
  }

  /** Removes a file (or a symbolic link, not its target). */
  unlink(path: string): Promise<void> {
    return this.#request(PacketType.Remove, (w) => w.string(path), expectOk("unlink", path));
  }

  /** Renames `from` to `to`; `{ overwrite: true }` replaces an existing `to` (`posix-rename@openssh.com`). */
  rename(from: string, to: string, options?: SftpRenameOptions): Promise<void> {
    options ??= {};
    if (options.overwrite) {
      return this.#extended(
        "rename",
        from,
        "posix-rename@openssh.com",
        "1",
        (w) => w.string(from).string(to),
        expectOk("rename", from),
      );
    }
    return this.#request(PacketType.Rename, (w) => w.string(from).string(to), expectOk("rename", from));
  }

  /** The absolute, canonical form of `path` (`"."` gives the login directory). */
  realpath(path: string): Promise<string> {
    return this.#request(PacketType.Realpath, (w) => w.string(path), expectOneName("realpath", path));
  }

  /** The target of the symbolic link `path`. */
  readlink(path: string): Promise<string> {
    return this.#request(PacketType.Readlink, (w) => w.string(path), expectOneName("readlink", path));
  }

  /**
   * Creates the symbolic link `path` pointing to `target` (as `ln -s target
   * path`). Sent in OpenSSH's argument order, which most servers follow (the
   * draft's is the reverse).
   */
  symlink(target: string, path: string): Promise<void> {
    return this.#request(PacketType.Symlink, (w) => w.string(target).string(path), expectOk("symlink", path));
  }

  /** Creates the hard link `path` to the file `target` (`hardlink@openssh.com`). */
  link(target: string, path: string): Promise<void> {
    return this.#extended(
      "link",
      path,
      "hardlink@openssh.com",
      "1",
      (w) => w.string(target).string(path),
      expectOk("link", path),
    );
  }

  /** Sets attributes of `path` (following links): mode, owner, times, size. */
  setstat(path: string, attributes: SftpAttributes): Promise<void> {
    return this.#request(
      PacketType.Setstat,
      (w) => writeAttributes(w.string(path), attributes),
      expectOk("setstat", path),
    );
  }

  /** Sets the permission bits of `path`. */
  chmod(path: string, mode: number): Promise<void> {
    return this.setstat(path, { mode });
  }

  /** Sets the owner of `path`. */
  chown(path: string, uid: number, gid: number): Promise<void> {
    return this.setstat(path, { uid, gid });
  }

  /** Sets the access and modification times of `path` (a `Date` or seconds since the epoch). */
  utimes(path: string, atime: Date | number, mtime: Date | number): Promise<void> {
    return this.setstat(path, { atime, mtime });
  }

  /** Figures of the file system holding `path` (`statvfs@openssh.com`). */
  statvfs(path: string): Promise<SftpStatvfs> {
    return this.#extended(
      "statvfs",
      path,
      "statvfs@openssh.com",
      "2",
      (w) => w.string(path),
      (response) => parseStatvfs(expectExtendedReply("statvfs", path)(response)),
    );
  }

  /** The server's limits (`limits@openssh.com`, asked once when the session started). */
  limits(): Promise<SftpLimits> {
    return new Promise((resolve) => {
      this.#session.live();
      if (!this.#limits) {
        throw new SshError("sftp", "limits: the server does not support limits@openssh.com", {
          status: "op-unsupported",
        });
      }
      resolve({ ...this.#limits });
    });
  }

  /** Opens a remote file; `mode` sets the permission bits of a file it creates (default 0o666, less the server's umask). */
  async open(path: string, flags?: SftpOpenFlags, mode?: number): Promise<SftpFile> {
    this.#session.live();
    const bits = OPEN_FLAGS[flags ?? "r"];
    if (bits === undefined) throw new TypeError(`unknown open flags ${JSON.stringify(flags)}`);
    const handle = await this.#request(
      PacketType.Open,
      (w) => writeAttributes(w.string(path).uint32(bits), mode === undefined ? {} : { mode }),
      expectHandle("open", path),
    );
    return openedFile(this.#files, handle, path);
  }

  /** The write chunk size for a transfer's options. */
  #writeChunk(options: SftpTransferOptions): number {
    return positiveOption(options.chunkSize, "chunkSize", this.#files.write.default, this.#files.write.max);
  }

  /** A remote file's content (at most `maxLength` bytes, default 1 GiB). */
  async readFile(path: string, options?: SftpReadFileOptions): Promise<Uint8Array> {
    options ??= {};
    this.#session.live();
    checkTransferOptions(options);
    return await closingAfter(await this.open(path, "r"), (file) => readWhole(file, options));
  }

  /** Writes `data` (a string as UTF-8) to a remote file, created or truncated (`flags`, default `"w"`). */
  async writeFile(
    path: string,
    data: Uint8Array | string,
    options?: SftpWriteFileOptions,
  ): Promise<void> {
    options ??= {};
    this.#session.live();
    checkTransferOptions(options);
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const chunkSize = this.#writeChunk(options);
    const file = await this.open(path, options.flags ?? "w", options.mode);
    await closingAfter(file, (file) => writeWhole(file, bytes, { ...options, chunkSize }));
  }

  /**
   * Copies the local file `local` to `remote` (created or truncated), with
   * `concurrency` writes in flight; resolves to the bytes copied.
   */
  async upload(local: string | URL, remote: string, options?: SftpTransferOptions): Promise<number> {
    options ??= {};
    this.#session.live();
    checkTransferOptions(options);
    const chunkSize = this.#writeChunk(options);
    return await uploadFrom(local, () => this.open(remote, "w"), { ...options, chunkSize });
  }

  /**
   * Copies `remote` to the local file `local` (created or truncated), with
   * `concurrency` reads in flight; resolves to the bytes copied.
   */
  async download(remote: string, local: string | URL, options?: SftpTransferOptions): Promise<number> {
    options ??= {};
    this.#session.live();
    checkTransferOptions(options);
    return await closingAfter(await this.open(remote, "r"), (file) => downloadTo(file, local, options));
  }

  /**
   * Ends the session: requests still waiting reject with `SshError`
   * `"closed"`, the transport is closed. Idempotent.
   */
  close(): Promise<void> {
    return this.#session.close();
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

const parseLimits: Parse<SftpLimits> = (response) => {
  const reader = expectExtendedReply("limits", "")(response);
  return {
    maxPacketLength: reader.uint64("max-packet-length"),
    maxReadLength: reader.uint64("max-read-length"),
    maxWriteLength: reader.uint64("max-write-length"),
    maxOpenHandles: reader.uint64("max-open-handles"),
  };
};

function parseStatvfs(reader: PacketReader): SftpStatvfs {
  return {
    blockSize: reader.uint64("f_bsize"),
    fragmentSize: reader.uint64("f_frsize"),
    blocks: reader.uint64("f_blocks"),
    freeBlocks: reader.uint64("f_bfree"),
    availableBlocks: reader.uint64("f_bavail"),
    files: reader.uint64("f_files"),
    freeFiles: reader.uint64("f_ffree"),
    availableFiles: reader.uint64("f_favail"),
    fsid: reader.uint64Big("f_fsid"),
    flags: reader.uint64("f_flag"),
    nameMax: reader.uint64("f_namemax"),
  };
}
