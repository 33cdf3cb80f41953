/**
 * The SFTP session under `SftpClient` and `SftpFile` (not public): the
 * version handshake, requests pipelined by id over the transport, and the
 * end of the session, which rejects every request still waiting.
 *
 * @module
 */

import { SshError } from "../errors.ts";
import { concat } from "./file.ts";
import { PacketFramer, splitParts } from "./frames.ts";
import { MalformedPacketError, PacketReader, PacketType, PacketWriter, SFTP_VERSION } from "./packet.ts";
import type { Parse } from "./responses.ts";
import { sessionError } from "./status.ts";

/**
 * The byte pipe SFTP runs over: an SSH channel's `sftp` subsystem, or the
 * stdin and stdout of an `sftp-server` process (or of `ssh -s host sftp`).
 * The client takes both streams for itself. `close` is called once, when
 * the session ends (after the writable was closed or aborted); it is where
 * the channel is closed or the process reaped.
 *
 * @example A local sftp-server process (Node and Deno)
 * ```ts
 * import { spawn } from "node:child_process";
 * import { Readable, Writable } from "node:stream";
 * import type { SftpTransport } from "@libssh/libssh";
 *
 * const child = spawn("/usr/lib/openssh/sftp-server", [], { stdio: ["pipe", "pipe", "inherit"] });
 * const transport: SftpTransport = {
 *   readable: Readable.toWeb(child.stdout) as ReadableStream<Uint8Array>,
 *   writable: Writable.toWeb(child.stdin),
 *   close: () => new Promise<void>((resolve) => child.once("close", () => resolve())),
 * };
 * ```
 */
export interface SftpTransport {
  /** The server's bytes. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the server; its back-pressure (`desiredSize`) paces the requests. */
  readonly writable: WritableStream<Uint8Array>;
  /** Called once when the session ends, to release the pipe. */
  close?(): void | Promise<void>;
}

/**
 * Options of `SftpClient.over`.
 *
 * @example
 * ```ts
 * import type { SftpClientOptions } from "@libssh/libssh";
 *
 * const options: SftpClientOptions = { signal: AbortSignal.timeout(10_000) };
 * ```
 */
export interface SftpClientOptions {
  /**
   * The longest packet accepted from the server, in bytes (its length
   * field). A longer one ends the session with `SshError` `"sftp"` /
   * `"bad-message"` before anything is allocated for it. Default 263168
   * (256 KiB, the most OpenSSH sends, plus 1 KiB). Reads are never asked
   * for more than fits.
   */
  maxPacketLength?: number;
  /** Aborts the version handshake (`SshError` `"aborted"`, and the transport is closed); later it does nothing. */
  signal?: AbortSignal;
}

/** The default of `SftpClientOptions.maxPacketLength`. */
export const DEFAULT_MAX_PACKET_LENGTH = 256 * 1024 + 1024;

/** Bytes of a `DATA` response that are not data: type, id, and the data's length. */
export const DATA_HEADER_LENGTH = 9;

interface Pending {
  parse: Parse<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

interface Handshake {
  resolve(extensions: Map<string, string>): void;
  reject(error: unknown): void;
}

/** The state every `SftpClient` and `SftpFile` of one session share. */
export class SftpSession {
  readonly #transport: SftpTransport;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #framer: PacketFramer;
  readonly #pending = new Map<number, Pending>();
  /** Packets waiting for the transport's back-pressure to ease, in the order they were made. */
  readonly #queue: Uint8Array[][] = [];
  /** Packets made in this turn, sent together at its end (one SSH packet for many small requests). */
  #outgoing: Uint8Array[] = [];
  #flushing = false;
  #unfinishedWrites = 0;
  #lastWrite: Promise<void> = Promise.resolve();
  #nextId = 0;
  #handshake: Handshake | undefined;
  #failure: SshError | undefined;
  #ended: Promise<void> | undefined;
  readonly maxPacketLength: number;

  constructor(transport: SftpTransport, options: SftpClientOptions) {
    const maxPacketLength = options.maxPacketLength ?? DEFAULT_MAX_PACKET_LENGTH;
    if (!Number.isInteger(maxPacketLength) || maxPacketLength < 1024 || maxPacketLength > 0xffffffff) {
      throw new RangeError(`maxPacketLength must be an integer from 1024 to 2^32-1, not ${maxPacketLength}`);
    }
    this.maxPacketLength = maxPacketLength;
    this.#transport = transport;
    this.#framer = new PacketFramer(maxPacketLength);
    // Taken first: a transport whose streams are locked fails here, before anything was sent.
    this.#writer = transport.writable.getWriter();
    this.#reader = transport.readable.getReader();
    this.#writer.closed.catch((error) =>
      this.#fail(sessionError("connection-lost", `the SFTP transport failed: ${describe(error)}`, error))
    );
  }

  /**
   * Sends `SSH_FXP_INIT` and waits for the server's version; resolves to
   * the extensions it announced (name → data).
   */
  start(signal: AbortSignal | undefined): Promise<Map<string, string>> {
    const version = new Promise<Map<string, string>>((resolve, reject) => {
      this.#handshake = { resolve, reject };
    });
    void this.#readLoop();
    this.#send([new PacketWriter(PacketType.Init, 16).uint32(SFTP_VERSION).finish()]);
    if (!signal) return version;
    const onAbort = (): void => this.#fail(new SshError("aborted", "the SFTP handshake was aborted"));
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    return version.finally(() => signal.removeEventListener("abort", onAbort));
  }

  /** Requests sent (or queued to be sent) and not answered yet. */
  get pendingRequests(): number {
    return this.#pending.size;
  }

  /** True until the session ends (`close()`, or a broken transport or packet). */
  get isOpen(): boolean {
    return this.#failure === undefined;
  }

  /** Throws `SshError` `"closed"` once the session ended. */
  live(): void {
    const failure = this.#failure;
    if (failure === undefined) return;
    if (failure.code === "closed") throw failure;
    throw new SshError("closed", `the SFTP session is closed: ${failure.message}`, { cause: failure });
  }

  /**
   * Sends one request (`build` writes its fields after the id; `payload`,
   * if given, is sent after them without being copied) and resolves to what
   * `parse` makes of the response.
   */
  request<T>(
    type: PacketType,
    build: (writer: PacketWriter) => void,
    parse: Parse<T>,
    payload?: Uint8Array,
  ): Promise<T> {
    let packet: Uint8Array;
    let id = this.#nextId;
    try {
      this.live();
      while (this.#pending.has(id)) id = (id + 1) >>> 0;
      const writer = new PacketWriter(type).uint32(id);
      build(writer); // throws for arguments the protocol cannot carry
      packet = writer.finish(payload?.length ?? 0);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#nextId = (id + 1) >>> 0;
    const result = new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { parse, resolve: resolve as (value: unknown) => void, reject });
    });
    this.#send(payload ? [packet, payload] : [packet]);
    return result;
  }

  /**
   * The transport takes more: it is below its high-water mark, or nothing
   * written is unfinished (a transport with a high-water mark of 0 signals
   * room only that way).
   */
  #hasRoom(): boolean {
    const room = this.#writer.desiredSize;
    return room !== null && (room > 0 || this.#unfinishedWrites === 0);
  }

  /**
   * Writes a packet's parts at once when the transport has room and nothing
   * waits before them; otherwise queues them, so packets leave in the order
   * they were made and the transport's back-pressure holds them here.
   */
  #send(parts: Uint8Array[]): void {
    this.#outgoing.push(...parts);
    if (this.#outgoing.length === parts.length) queueMicrotask(() => this.#sendOutgoing());
  }

  #sendOutgoing(): void {
    const parts = coalesce(this.#outgoing);
    this.#outgoing = [];
    if (this.#failure) return;
    if (this.#queue.length === 0 && this.#hasRoom()) {
      this.#write(parts);
      return;
    }
    this.#queue.push(parts);
    if (!this.#flushing) void this.#flush();
  }

  #write(parts: Uint8Array[]): void {
    for (const part of parts) {
      this.#unfinishedWrites++;
      this.#lastWrite = this.#writer.write(part).then(
        () => {
          this.#unfinishedWrites--;
        },
        (error) =>
          this.#fail(
            sessionError(
              "connection-lost",
              `writing to the SFTP transport failed: ${describe(error)}`,
              error,
            ),
          ),
      );
    }
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#queue.length > 0 && this.#failure === undefined) {
        if (!this.#hasRoom()) {
          // A failed transport is reported through `closed` or the write's rejection.
          await Promise.race([this.#writer.ready.catch(() => {}), this.#lastWrite]);
          if (this.#writer.desiredSize === null) return; // errored or closing
          continue;
        }
        this.#write(this.#queue.shift()!);
      }
    } finally {
      this.#flushing = false;
    }
  }

  async #readLoop(): Promise<void> {
    const onPacket = (parts: Uint8Array[]): void => this.#dispatch(parts);
    for (;;) {
      const chunk = await this.#reader.read().catch((error) => {
        const failure = `reading from the SFTP transport failed: ${describe(error)}`;
        this.#fail(sessionError("connection-lost", failure, error));
        return undefined;
      });
      if (chunk === undefined) return;
      if (this.#failure) return;
      if (chunk.done) {
        const where = this.#framer.partial ? " in the middle of a packet" : "";
        this.#fail(sessionError("connection-lost", `the SFTP server ended the session${where}`));
        return;
      }
      try {
        if (!(chunk.value instanceof Uint8Array)) {
          throw new TypeError("the SFTP transport gave a chunk that is no Uint8Array");
        }
        this.#framer.push(chunk.value, onPacket);
      } catch (error) {
        this.#fail(
          error instanceof MalformedPacketError
            ? sessionError("bad-message", `malformed packet from the SFTP server: ${error.message}`)
            : error instanceof SshError
            ? error
            // A fault of this client: the session ends all the same, the cause tells what it was.
            : sessionError(
              "bad-message",
              `processing a packet from the SFTP server failed: ${describe(error)}`,
              error,
            ),
        );
        return;
      }
    }
  }

  /** Hands one packet to its request; throws MalformedPacketError for one that fits no request. */
  #dispatch(parts: Uint8Array[]): void {
    if (this.#failure) return;
    // A read's data stays in the pieces it came in (no copy); any other packet is parsed whole.
    const pieces = parts.length > 1 && parts[0][0] === PacketType.Data && !this.#handshake;
    const [body, data] = pieces
      ? splitParts(parts, DATA_HEADER_LENGTH)
      : [parts.length === 1 ? parts[0] : concat(parts), undefined];
    const reader = new PacketReader(body, 1);
    const type = body[0] as PacketType;
    if (this.#handshake) {
      // Read whole before the handshake is settled: a failure here rejects it (through #fail).
      if (type !== PacketType.Version) throw new MalformedPacketError(`type ${type} instead of the version`);
      const version = reader.uint32("version");
      if (version !== SFTP_VERSION) {
        throw new SshError(
          "sftp",
          `the SFTP server speaks version ${version}; this client speaks ${SFTP_VERSION}`,
          {
            status: "op-unsupported",
          },
        );
      }
      const extensions = new Map<string, string>();
      while (reader.remaining > 0) {
        extensions.set(reader.text("extension name"), reader.text("extension data"));
      }
      this.#handshake.resolve(extensions);
      this.#handshake = undefined;
      return;
    }
    const id = reader.uint32("request id");
    const pending = this.#pending.get(id);
    if (!pending) throw new MalformedPacketError(`a response (type ${type}) to no request (id ${id})`);
    this.#pending.delete(id);
    let result: unknown;
    try {
      result = pending.parse({ type, reader, data });
    } catch (error) {
      if (!(error instanceof MalformedPacketError)) {
        pending.reject(error);
        return;
      }
      const failure = sessionError("bad-message", `malformed packet from the SFTP server: ${error.message}`);
      pending.reject(failure);
      throw failure;
    }
    pending.resolve(result);
  }

  /**
   * Ends the session with `error`: every waiting request and the handshake
   * reject with it, the transport is released. The first call wins.
   */
  #fail(error: SshError, graceful = false): void {
    if (this.#failure) return;
    this.#failure = error;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    this.#queue.length = 0;
    this.#handshake?.reject(error);
    this.#handshake = undefined;
    for (const request of pending) request.reject(error);
    this.#ended = this.#release(error, graceful);
  }

  async #release(error: SshError, graceful: boolean): Promise<void> {
    // Closing lets the server finish what it was sent; a broken session is cut off. Neither is
    // awaited: a server that stopped reading would hold close() forever.
    (graceful ? this.#writer.close() : this.#writer.abort(error)).catch(() => {});
    this.#reader.cancel(error).catch(() => {});
    try {
      await this.#transport.close?.();
    } catch {
      // The transport is gone either way; its own failure is not the session's.
    }
  }

  /** Ends the session (idempotent); resolves once the transport was released. */
  close(): Promise<void> {
    this.#fail(new SshError("closed", "the SFTP session is closed"), true);
    return this.#ended!;
  }
}

/** Parts below this size are sent merged with their neighbours; larger ones (write data) as they are. */
const MERGE_BELOW = 4096;

/** `parts` with each run of consecutive small parts merged into one. */
function coalesce(parts: Uint8Array[]): Uint8Array[] {
  const merged: Uint8Array[] = [];
  let run: Uint8Array[] = [];
  const endRun = (): void => {
    if (run.length > 0) merged.push(run.length === 1 ? run[0] : concat(run));
    run = [];
  };
  for (const part of parts) {
    if (part.length < MERGE_BELOW) run.push(part);
    else {
      endRun();
      merged.push(part);
    }
  }
  endRun();
  return merged;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
