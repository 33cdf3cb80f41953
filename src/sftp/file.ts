/**
 * `SftpFile`: an open remote file (an SFTP handle).
 *
 * @module
 */

import { closedError, SshError } from "../errors.ts";
import type { SftpSession } from "./_session.ts";
import { type SftpAttributes, type SftpStats, writeAttributes } from "./attributes.ts";
import { PacketType } from "./packet.ts";
import { PipelinedReader, PipelinedWriter } from "./pipeline.ts";
import { expectAttributes, expectData, expectOk } from "./responses.ts";

/** Requests of one transfer in flight at once, by default (as OpenSSH's `sftp -R`). */
export const DEFAULT_CONCURRENCY = 64;

/** Chunk sizes for reads or writes: the default, and the most the server takes. */
export interface ChunkSizes {
  default: number;
  max: number;
}

/** What every file of a session shares. */
export interface FileContext {
  session: SftpSession;
  read: ChunkSizes;
  write: ChunkSizes;
  /** The server supports `fsync@openssh.com`. */
  fsync: boolean;
}

/**
 * Options of `SftpFile.readable()`.
 *
 * @example
 * ```ts
 * import type { SftpReadableOptions } from "@libssh/libssh";
 *
 * const firstMegabyte: SftpReadableOptions = { start: 0, end: 1 << 20, concurrency: 16 };
 * ```
 */
export interface SftpReadableOptions {
  /** Offset of the first byte. Default 0. */
  start?: number;
  /** Offset where reading stops (exclusive). Default: the end of the file. */
  end?: number;
  /** Bytes per read request. Default: the server's `max-read-length` (OpenSSH: 261120), else 32768; capped at it. */
  chunkSize?: number;
  /** Read requests in flight at once. Default 64. */
  concurrency?: number;
}

/**
 * Options of `SftpFile.writable()`.
 *
 * @example
 * ```ts
 * import type { SftpWritableOptions } from "@libssh/libssh";
 *
 * const appendAt: SftpWritableOptions = { start: 4096 };
 * ```
 */
export interface SftpWritableOptions {
  /** Offset of the first byte written. Default 0. */
  start?: number;
  /** Bytes per write request. Default: the server's `max-write-length` (OpenSSH: 261120), else 32768; capped at it. */
  chunkSize?: number;
  /** Write requests in flight at once. Default 64. */
  concurrency?: number;
}

/** `value`, checked to be a non-negative safe integer. */
export function checkOffset(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, not ${value}`);
  }
  return value;
}

/** A positive integer option, at most `max` (default `fallback`). */
export function positiveOption(
  value: number | undefined,
  name: string,
  fallback: number,
  max = Infinity,
): number {
  if (value === undefined) return Math.min(fallback, max);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, not ${value}`);
  }
  return Math.min(value, max);
}

let createFile: (context: FileContext, handle: Uint8Array, path: string) => SftpFile;
let fileReader: (file: SftpFile, options: SftpReadableOptions) => PipelinedReader;

/** An `SftpFile` for a handle the server returned (for `SftpClient.open`). */
export function openedFile(context: FileContext, handle: Uint8Array, path: string): SftpFile {
  return createFile(context, handle, path);
}

/**
 * What `readable()` reads, without the stream: each read's pieces at once
 * (for `download`, which writes them with one `writev`).
 */
export function pipelinedReader(file: SftpFile, options: SftpReadableOptions): PipelinedReader {
  return fileReader(file, options);
}

/**
 * An open remote file, from `SftpClient.open()`. Reads and writes take an
 * explicit position (SFTP has no file pointer); `readable()` and
 * `writable()` stream the file with many requests in flight. Close it
 * (`await using` does) to release the server's handle; closing the client
 * releases them all.
 *
 * @example
 * ```ts
 * import type { SftpClient } from "@libssh/libssh";
 *
 * async function head(sftp: SftpClient, path: string): Promise<string> {
 *   await using file = await sftp.open(path, "r");
 *   return new TextDecoder().decode(await file.read(80, 0));
 * }
 * ```
 */
export class SftpFile {
  /** The path it was opened with. */
  readonly path: string;
  readonly #context: FileContext;
  readonly #handle: Uint8Array;
  #closing: Promise<void> | undefined;

  static {
    createFile = (context, handle, path) => new SftpFile(context, handle, path);
    fileReader = (file, options) => {
      file.#live();
      return file.#reader(options);
    };
  }

  private constructor(context: FileContext, handle: Uint8Array, path: string) {
    this.#context = context;
    this.#handle = handle;
    this.path = path;
  }

  /** Throws `SshError` `"closed"` once the file or its session is closed. */
  #live(): SftpSession {
    if (this.#closing) throw closedError(`SFTP file ${this.path}`);
    this.#context.session.live();
    return this.#context.session;
  }

  #readAt = (offset: number, length: number): Promise<Uint8Array[]> =>
    this.#context.session.request(
      PacketType.Read,
      (w) => w.string(this.#handle).uint64(offset).uint32(length),
      expectData("read", this.path, length),
    );

  #writeAt = (offset: number, data: Uint8Array): Promise<void> =>
    this.#context.session.request(
      PacketType.Write,
      (w) => w.string(this.#handle).uint64(offset).uint32(data.length),
      expectOk("write", this.path),
      data,
    );

  /** A reader of `[start, end)`, with checked options. */
  #reader(options: SftpReadableOptions = {}): PipelinedReader {
    const { read } = this.#context;
    const start = checkOffset(options.start ?? 0, "start");
    const end = options.end === undefined ? Infinity : checkOffset(options.end, "end");
    return new PipelinedReader(this.#readAt, {
      start,
      end: Math.max(start, end),
      chunkSize: positiveOption(options.chunkSize, "chunkSize", read.default, read.max),
      concurrency: positiveOption(options.concurrency, "concurrency", DEFAULT_CONCURRENCY),
    });
  }

  /** A writer from `start`, with checked options. */
  #writer(options: SftpWritableOptions & { onWritten?: (bytes: number) => void } = {}): PipelinedWriter {
    const { write } = this.#context;
    return new PipelinedWriter(this.#writeAt, {
      start: checkOffset(options.start ?? 0, "start"),
      chunkSize: positiveOption(options.chunkSize, "chunkSize", write.default, write.max),
      concurrency: positiveOption(options.concurrency, "concurrency", DEFAULT_CONCURRENCY),
      onWritten: options.onWritten,
    });
  }

  /**
   * Reads `length` bytes at `position`; fewer only where the file ends (an
   * empty array at or past its end). A long read is split into pipelined
   * requests.
   */
  async read(length: number, position: number): Promise<Uint8Array> {
    this.#live();
    checkOffset(length, "length");
    const reader = this.#reader({ start: position, end: checkOffset(position, "position") + length });
    const pieces: Uint8Array[] = [];
    for (let data = await reader.next(); data; data = await reader.next()) pieces.push(...data);
    return pieces.length === 1 ? pieces[0] : concat(pieces);
  }

  /** Writes `data` (a string as UTF-8) at `position`, split into pipelined requests. */
  async write(data: Uint8Array | string, position: number): Promise<void> {
    this.#live();
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const writer = this.#writer({ start: position });
    try {
      await writer.write(bytes);
    } catch (error) {
      await writer.cancel();
      throw error;
    }
    await writer.finish();
  }

  /** The file's attributes (`fstat`). */
  async stat(): Promise<SftpStats> {
    return await this.#live().request(
      PacketType.Fstat,
      (w) => w.string(this.#handle),
      expectAttributes("fstat", this.path),
    );
  }

  /** Sets attributes of the open file (`fsetstat`): mode, owner, times, size. */
  async setstat(attributes: SftpAttributes): Promise<void> {
    await this.#live().request(
      PacketType.Fsetstat,
      (w) => writeAttributes(w.string(this.#handle), attributes),
      expectOk("fsetstat", this.path),
    );
  }

  /** Flushes the file to the server's disk (`fsync@openssh.com`; `op-unsupported` where the server lacks it). */
  async sync(): Promise<void> {
    const session = this.#live();
    if (!this.#context.fsync) {
      throw new SshError("sftp", `fsync ${this.path}: the server does not support fsync@openssh.com`, {
        status: "op-unsupported",
        path: this.path,
      });
    }
    await session.request(
      PacketType.Extended,
      (w) => w.string("fsync@openssh.com").string(this.#handle),
      expectOk("fsync", this.path),
    );
  }

  /**
   * The file as a stream of chunks, in order, with `concurrency` reads in
   * flight. Cancelling the stream waits for the reads already sent. The file
   * stays open.
   */
  readable(options?: SftpReadableOptions): ReadableStream<Uint8Array> {
    this.#live();
    const reader = this.#reader(options);
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const data = await reader.next();
        if (!data) controller.close();
        else for (const piece of data) controller.enqueue(piece);
      },
      cancel: () => reader.cancel(),
    }, { highWaterMark: 0 });
  }

  /**
   * A stream that writes to the file from `start`, with `concurrency` writes
   * in flight; closing it waits until all were answered (a failed write
   * errors the stream). Aborting it waits for the writes already sent. The
   * file stays open.
   */
  writable(options?: SftpWritableOptions): WritableStream<Uint8Array> {
    this.#live();
    const writer = this.#writer(options);
    return new WritableStream<Uint8Array>({
      write: (chunk) => writer.write(chunk),
      close: () => writer.finish(),
      abort: () => writer.cancel(),
    });
  }

  /** Closes the handle on the server; idempotent, and nothing to do once the session is closed. */
  close(): Promise<void> {
    this.#closing ??= this.#context.session.isOpen
      ? this.#context.session.request(
        PacketType.Close,
        (w) => w.string(this.#handle),
        expectOk("close", this.path),
      )
      : Promise.resolve();
    return this.#closing;
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Runs `work` on `file`, then closes it. Unlike `await using`, a failed
 * close after a failed `work` does not wrap the two in a SuppressedError:
 * `work`'s error is the one thrown.
 */
export async function closingAfter<T>(file: SftpFile, work: (file: SftpFile) => Promise<T>): Promise<T> {
  let result: T;
  try {
    result = await work(file);
  } catch (error) {
    await file.close().catch(() => {});
    throw error;
  }
  await file.close();
  return result;
}

/** The bytes of `chunks`, one after the other. */
export function concat(chunks: Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}
