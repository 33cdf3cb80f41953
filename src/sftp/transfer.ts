/**
 * Whole-file transfers between a local file (or memory) and an open remote
 * file: what `upload`, `download`, `readFile` and `writeFile` of
 * `SftpClient` do once the remote file is open.
 *
 * @module
 */

import { open } from "node:fs/promises";
import { fileError, SshError } from "../errors.ts";
import {
  closingAfter,
  concat,
  DEFAULT_CONCURRENCY,
  pipelinedReader,
  positiveOption,
  type SftpFile,
} from "./file.ts";
import { abortedError } from "./pipeline.ts";

/**
 * Options of `SftpClient.upload`, `download`, `readFile` and `writeFile`.
 *
 * @example
 * ```ts
 * import type { SftpTransferOptions } from "@libssh/libssh";
 *
 * const options: SftpTransferOptions = {
 *   concurrency: 32,
 *   signal: AbortSignal.timeout(60_000),
 *   onProgress: (done, total) => console.log(`${done} of ${total ?? "?"} bytes`),
 * };
 * ```
 */
export interface SftpTransferOptions {
  /** Requests in flight at once. Default 64. */
  concurrency?: number;
  /**
   * Bytes per request. Default: the server's `max-read-length` /
   * `max-write-length` (`limits@openssh.com`; OpenSSH: 261120), else 32768;
   * capped at those.
   */
  chunkSize?: number;
  /**
   * Stops the transfer: it rejects with `SshError` `"aborted"` once the
   * requests already sent were answered (none is left pending) and the
   * files were closed. What was written so far stays.
   */
  signal?: AbortSignal;
  /**
   * Called after each chunk with the bytes transferred so far and the size
   * the source had when the transfer began (`undefined` if the server did
   * not say).
   */
  onProgress?: (transferred: number, total: number | undefined) => void;
}

/**
 * Options of `SftpClient.readFile`: those of the transfers, and a bound on
 * what it holds in memory.
 *
 * @example
 * ```ts
 * import type { SftpReadFileOptions } from "@libssh/libssh";
 *
 * const smallConfig: SftpReadFileOptions = { maxLength: 64 * 1024 };
 * ```
 */
export interface SftpReadFileOptions extends SftpTransferOptions {
  /** The most bytes read; a longer file rejects with `SshError` `"sftp"` / `"failure"`. Default 1 GiB. */
  maxLength?: number;
}

/** Checks the options every transfer takes, before anything is opened or sent. */
export function checkTransferOptions(options: SftpTransferOptions): void {
  positiveOption(options.concurrency, "concurrency", DEFAULT_CONCURRENCY);
  positiveOption(options.chunkSize, "chunkSize", 1);
}

/** Transfer options with the chunk size chosen (from the server's limits, by `SftpClient`). */
export type ResolvedTransferOptions = SftpTransferOptions & { chunkSize: number };

/** The default of `SftpReadFileOptions.maxLength`. */
export const DEFAULT_READ_FILE_MAX = 1024 * 1024 * 1024;

/** The error for a local file that failed while being read or written (a disk full, a directory, …). */
function localError(doing: string, local: string | URL, cause: unknown): SshError {
  return new SshError("io", `${doing} local file ${local} failed: ${(cause as Error)?.message ?? cause}`, {
    cause,
  });
}

function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw abortedError(signal, what);
}

/** Reads `file` whole into memory (at most `maxLength` bytes). */
export async function readWhole(file: SftpFile, options: SftpReadFileOptions): Promise<Uint8Array> {
  const maxLength = options.maxLength ?? DEFAULT_READ_FILE_MAX;
  const total = options.onProgress ? (await file.stat()).size : undefined;
  const reader = file.readable(options).getReader();
  const chunks: Uint8Array[] = [];
  let transferred = 0;
  try {
    for (;;) {
      throwIfAborted(options.signal, `reading ${file.path}`);
      const { value, done } = await reader.read();
      if (done) break;
      transferred += value.length;
      if (transferred > maxLength) {
        throw new SshError("sftp", `read ${file.path}: longer than maxLength (${maxLength} bytes)`, {
          status: "failure",
          path: file.path,
        });
      }
      chunks.push(value);
      options.onProgress?.(transferred, total);
    }
  } catch (error) {
    await reader.cancel();
    throw error;
  }
  return concat(chunks);
}

/** Writes `data` to `file` from offset 0. */
export async function writeWhole(
  file: SftpFile,
  data: Uint8Array,
  options: ResolvedTransferOptions,
): Promise<void> {
  const writer = file.writable(options).getWriter();
  try {
    // Handed over in slices, for progress and a prompt abort; the writer splits them into requests.
    const step = options.chunkSize * 4;
    for (let at = 0; at < data.length; at += step) {
      throwIfAborted(options.signal, `writing ${file.path}`);
      await writer.write(data.subarray(at, at + step));
      options.onProgress?.(Math.min(at + step, data.length), data.length);
    }
    await writer.close();
  } catch (error) {
    await writer.abort(error);
    throw error;
  }
}

/** Copies the remote `file` into the local file `local` (created or truncated); resolves to the bytes copied. */
export async function downloadTo(
  file: SftpFile,
  local: string | URL,
  options: SftpTransferOptions,
): Promise<number> {
  const total = (await file.stat()).size;
  const target = await open(local, "w").catch((error) => {
    throw fileError(`local file ${local}`, error);
  });
  const reader = pipelinedReader(file, options);
  // A read's pieces are gathered here for one write: a buffer reused, so no allocation (and no page
  // faults) per read; `writev` would not spare it, as Deno's joins the pieces into a new buffer.
  let gathered = new Uint8Array(0);
  let transferred = 0;
  try {
    for (;;) {
      throwIfAborted(options.signal, `downloading ${file.path}`);
      const data = await reader.next();
      if (!data) break;
      let bytes = data[0];
      if (data.length > 1) {
        const length = data.reduce((sum, piece) => sum + piece.length, 0);
        if (gathered.length < length) gathered = new Uint8Array(length);
        bytes = gathered.subarray(0, length);
        let at = 0;
        for (const piece of data) {
          bytes.set(piece, at);
          at += piece.length;
        }
      }
      await target.write(bytes, 0, bytes.length, transferred).catch((error) => {
        throw localError("writing", local, error);
      });
      transferred += bytes.length;
      options.onProgress?.(transferred, total);
    }
  } catch (error) {
    await reader.cancel();
    throw error;
  } finally {
    await target.close();
  }
  return transferred;
}

/**
 * Copies the local file `local` into the remote file `openRemote()` opens,
 * from offset 0 (local reads of `chunkSize`, one request each); resolves to
 * the bytes copied. The local file is opened first: a missing one leaves
 * the remote file untouched.
 */
export async function uploadFrom(
  local: string | URL,
  openRemote: () => Promise<SftpFile>,
  options: ResolvedTransferOptions,
): Promise<number> {
  const source = await open(local, "r").catch((error) => {
    throw fileError(`local file ${local}`, error);
  });
  try {
    const stats = await source.stat();
    // Checked before the remote file is opened (and truncated).
    if (stats.isDirectory()) throw fileError(`local file ${local}`, { code: "EISDIR" });
    const total = stats.size;
    return await closingAfter(await openRemote(), async (file) => {
      const { chunkSize } = options;
      const writer = file.writable(options).getWriter();
      let transferred = 0;
      try {
        for (;;) {
          throwIfAborted(options.signal, `uploading ${file.path}`);
          // A new buffer each time: the writer holds each one until the server answered its write.
          const buffer = new Uint8Array(chunkSize);
          const { bytesRead } = await source.read(buffer, 0, chunkSize, transferred).catch((error) => {
            throw localError("reading", local, error);
          });
          if (bytesRead === 0) break;
          throwIfAborted(options.signal, `uploading ${file.path}`); // again: the read took time
          await writer.write(buffer.subarray(0, bytesRead));
          transferred += bytesRead;
          options.onProgress?.(transferred, total);
        }
        await writer.close();
      } catch (error) {
        await writer.abort(error);
        throw error;
      }
      return transferred;
    });
  } finally {
    await source.close();
  }
}
