/**
 * The core of a channel, server or client: the native `ssh_channel`, its
 * operation queue, writes under the window and the output bound, input
 * under the input bounds, and the callback structs it added. Private: not
 * exported from `mod.ts`; `SshChannel` and `ClientChannel` are its faces.
 *
 * @module
 */

import type { Pointer } from "../ffi/backend.ts";
import { cString } from "../ffi/cstring.ts";
import { SSH_AGAIN, SSH_EOF, SSH_ERROR, SSH_OK } from "../ffi/constants.ts";
import { type CallbackStruct, channelCallbackStruct, type ChannelHandlers } from "../ffi/trampolines.ts";
import type { ChannelCallbackField } from "../ffi/structs.ts";
import type { LibsshSession } from "./_libssh_session.ts";
import { closedError, SshError } from "./errors.ts";

/** The key under which an `SshChannel` keeps its core: exported from this private module only. */
export const CHANNEL_CORE: unique symbol = Symbol("ChannelCore");

/** The most handed to `ssh_channel_write` at once (and at most the output high-water mark). */
const WRITE_PIECE = 256 * 1024;
/** Bytes read from libssh per call when a paused reader resumes. */
const READ_CHUNK = 64 * 1024;
/** Where paused readers read into; what they keep is copied out at once. */
const readScratch = new Uint8Array(READ_CHUNK);
const NOTHING = new Uint8Array(0);

const encoder = new TextEncoder();

interface Reader {
  controller: ReadableStreamDefaultController<Uint8Array>;
  struct: CallbackStruct<ChannelCallbackField>;
  /** The stream's high-water mark: what it holds is this minus its desired size. */
  highWaterMark: number;
  /** Bytes counted as held (see `ChannelCore.holdInput`). */
  held: number;
  /** libssh holds data we did not take (the stream was full). */
  paused: boolean;
  done: boolean;
}

/** What an env request makes a channel hold: its name and value, in UTF-8 bytes. */
export function envBytes(name: string, value: string): number {
  return encoder.encode(name).length + encoder.encode(value).length;
}

/** The public object a channel core serves. */
export interface ChannelOwner {
  close(): Promise<void>;
}

/**
 * The internals of a channel; its session holds it in `channels` until it is
 * freed, and tells it when packets were processed, the connection ended or the
 * session was freed.
 */
export class ChannelCore<H extends LibsshSession = LibsshSession, O extends ChannelOwner = ChannelOwner> {
  readonly session: H;
  readonly handle: Pointer;
  readonly address: bigint;
  /** The public object: closed when the peer closes the channel. */
  readonly owner: O;
  /** `close()` was called. */
  closed = false;
  /**
   * This side asked to open the channel and the peer has not confirmed it:
   * closing it then sends nothing (libssh would send EOF and close to the
   * peer's channel number 0, someone else's channel).
   */
  unconfirmed = false;
  /** The native channel was freed (or its session was). */
  freed = false;
  remoteEof = false;
  remoteClosed = false;
  eofSent = false;
  #queue: Promise<void> = Promise.resolve();
  /** Operations queued and not finished: while there are any, a write must queue behind them. */
  #queued = 0;
  #closing: Promise<void> | undefined;
  #writers: (() => void)[] = [];
  /** The struct of the core's own handlers, whose write-wontblock field is set only while writers wait. */
  readonly #own: CallbackStruct<ChannelCallbackField>;
  #progressWaiters: (() => void)[] = [];
  readonly #structs: { struct: CallbackStruct<ChannelCallbackField>; release?: () => void }[] = [];
  #reader: Reader | undefined;
  /** Env requests accepted, and the bytes of their names and values (capped by `ServerLimits`). */
  #envRequests = 0;
  #envBytes = 0;
  /** Data callbacks running: libssh's buffer must not move under them (`readKept` waits). */
  delivering = 0;
  /** Bytes of this channel's input held in JS by its consumer (see `holdInput`). */
  #inputHeld = 0;
  /**
   * Called when the session's input budget has room again after it stopped
   * this channel's consumer: it may take what libssh kept (`readKept`).
   */
  onInputRoom: (() => void) | undefined;

  constructor(session: H, handle: Pointer, owner: O) {
    this.session = session;
    this.handle = handle;
    this.address = session.backend.address(handle);
    this.owner = owner;
    session.channels.set(this.address, this);
    this.#own = this.#addStruct({
      eof: () => {
        this.remoteEof = true;
        this.#finishReader();
      },
      close: () => {
        this.remoteClosed = true;
        this.remoteEof = true;
        this.#finishReader();
        this.#wakeWriters();
        void this.owner.close();
      },
      writeWontblock: () => {
        this.#wakeWriters();
        return 0;
      },
    }, "channel");
    // libssh calls it at every POLLOUT its poll sees, which is most of them during a download.
    this.#own.enable("writeWontblock", false);
  }

  live(): this {
    if (this.closed || this.freed) throw closedError("SshChannel");
    return this;
  }

  #addStruct(
    handlers: Partial<ChannelHandlers>,
    context: string,
    enabled: ChannelCallbackField[] = Object.keys(handlers) as ChannelCallbackField[],
    transientData = false,
  ): CallbackStruct<ChannelCallbackField> {
    const struct = channelCallbackStruct(this.session.backend, {
      handlers,
      onError: (error, name) => this.session.onError(error, `${context} ${name}`),
      transientData,
    });
    for (const field of enabled) struct.enable(field, true);
    try {
      this.session.check(
        this.session.backend.libssh.ssh_add_channel_callbacks(this.handle, struct.pointer),
        "adding channel callbacks",
      );
    } catch (error) {
      struct.release();
      throw error;
    }
    this.#structs.push({ struct });
    return struct;
  }

  /**
   * Adds decoded libssh channel callbacks (the fields in `enabled`, by default
   * those of `handlers`); they are removed when the channel is freed. `follow`
   * may keep switching single fields of the struct (a user's callback set that
   * changes); the function it returns runs when the struct is released.
   */
  addHandlers(
    handlers: Partial<ChannelHandlers>,
    context: string,
    enabled?: ChannelCallbackField[],
    follow?: (struct: CallbackStruct<ChannelCallbackField>) => () => void,
  ): void {
    const struct = this.#addStruct(handlers, context, enabled);
    if (follow) this.#structs[this.#structs.length - 1].release = follow(struct);
  }

  /** Runs channel operations one after another, in call order. */
  enqueue<T>(operation: () => T | Promise<T>): Promise<T> {
    this.#queued++;
    const result = this.#queue.then(operation);
    const settled = (): void => void this.#queued--;
    this.#queue = result.then(settled, settled);
    return result;
  }

  /**
   * Hands libssh at once what it takes of `bytes`, when nothing is queued
   * before them and no libssh call is running (a callback): the caller's
   * bytes need no copy then. Returns how many were taken (0 on any doubt: the
   * queued path then does the work and reports errors).
   */
  writeNow(bytes: Uint8Array, stderr: boolean): number {
    if (this.#queued > 0 || this.session.inLibssh || this.freed || this.remoteClosed) return 0;
    if (this.session.disconnected) return 0;
    const { libssh } = this.session.backend;
    const piece = Math.min(WRITE_PIECE, this.session.limits.sessionOutputHighWaterMark);
    const write = stderr ? libssh.ssh_channel_write_stderr : libssh.ssh_channel_write;
    let offset = 0;
    while (offset < bytes.length) {
      const window = libssh.ssh_channel_window_size(this.handle);
      if (window === 0 || this.session.outputFull()) break;
      const chunk = bytes.subarray(offset, offset + Math.min(bytes.length - offset, window, piece));
      const written = this.session.sendData(() =>
        write(this.handle, chunk as Uint8Array<ArrayBuffer>, chunk.length)
      );
      if (written <= 0) break;
      offset += written;
    }
    if (offset > 0) this.session.updateInterest();
    return offset;
  }

  /** Throws unless the channel can still send. */
  assertSendable(): void {
    if (this.freed) throw closedError("SshChannel");
    if (this.session.disconnected) throw new SshError("disconnected", "the session is disconnected");
    if (this.remoteClosed) throw new SshError("disconnected", "the client closed the channel");
  }

  /** Calls a libssh function that returns SSH_OK / SSH_ERROR, throwing on error. */
  request(what: string, fn: () => number): void {
    this.assertSendable();
    const rc = this.session.call(fn);
    this.session.noteActivity();
    this.session.updateInterest();
    if (rc === SSH_ERROR) this.session.check(rc, what);
  }

  /** Whether an env request of `bytes` fits under the channel's caps; reports the refusal when not. */
  envFits(bytes: number): boolean {
    const { limits } = this.session;
    if (this.#envRequests >= limits.maxEnvRequestsPerChannel) {
      this.session.reportLimit("maxEnvRequestsPerChannel");
      return false;
    }
    if (this.#envBytes + bytes > limits.maxEnvBytesPerChannel) {
      this.session.reportLimit("maxEnvBytesPerChannel");
      return false;
    }
    return true;
  }

  /** An env request of `bytes` was accepted. */
  envAccepted(bytes: number): void {
    this.#envRequests++;
    this.#envBytes += bytes;
  }

  /**
   * Feeds this channel's data (not stderr) to `take`, which returns the bytes
   * it took; libssh keeps the rest. `take` gets pieces valid during the call
   * only: it copies what it keeps (one copy, not two, for a consumer that
   * writes most of it on at once).
   */
  consumeInput(take: (data: Uint8Array) => number): void {
    this.#addStruct(
      {
        data: (data, isStderr) => {
          if (isStderr) return data.length;
          this.delivering++;
          try {
            return take(data);
          } finally {
            this.delivering--;
          }
        },
      },
      "channel input",
      ["data"],
      true,
    );
  }

  /**
   * Bytes of input the consumer may still take and hold: under the channel's
   * and the session's high-water marks (`ServerLimits`). At 0 it returns less
   * than it was given from the data callback: libssh keeps the rest and the
   * client's window stops growing.
   */
  inputRoom(): number {
    const { limits } = this.session;
    const channelRoom = limits.channelInputHighWaterMark - this.#inputHeld;
    const sessionRoom = limits.sessionInputHighWaterMark - this.session.inputHeld;
    if (sessionRoom <= 0 && channelRoom > 0) this.session.inputStarved = true;
    return Math.max(0, Math.min(channelRoom, sessionRoom));
  }

  /** The consumer holds `bytes` more (negative: it let go of them); wakes starved channels when room appears. */
  holdInput(bytes: number): void {
    this.#inputHeld += bytes;
    this.session.inputHeld += bytes;
    if (bytes < 0 && this.session.inputStarved) this.session.inputFreed();
  }

  /**
   * Takes up to `max` bytes that libssh kept because no consumer took them:
   * an empty array when it keeps none now, `null` once the client sent EOF
   * and nothing is left (or the channel is gone). libssh processes arriving
   * packets first, so data callbacks may run meanwhile. Inside this channel's
   * data callback it returns an empty array: libssh is handing that data over.
   */
  readKept(max: number): Uint8Array<ArrayBuffer> | null {
    if (this.freed || this.session.disconnected) return null;
    if (this.delivering > 0) return NOTHING; // libssh is handing this very data to a callback
    const { libssh } = this.session.backend;
    const count = Math.min(max, readScratch.length);
    const n = this.session.call(() =>
      libssh.ssh_channel_read_nonblocking(this.handle, readScratch, count, 0)
    );
    this.session.updateInterest();
    if (n === SSH_EOF || n === SSH_ERROR) return null;
    return n > 0 ? readScratch.slice(0, n) : NOTHING;
  }

  /**
   * Hands `bytes` to libssh in pieces, each only while the client's window
   * has room and libssh holds less than the session's output high-water mark
   * for the socket: a client that does not read stops the writer, and libssh
   * never holds much more than the mark (`ServerLimits`).
   */
  async writeAll(bytes: Uint8Array<ArrayBuffer>, stderr: boolean): Promise<void> {
    const { libssh } = this.session.backend;
    const piece = Math.min(WRITE_PIECE, this.session.limits.sessionOutputHighWaterMark);
    let offset = 0;
    while (offset < bytes.length) {
      this.assertSendable();
      const window = libssh.ssh_channel_window_size(this.handle);
      if (window === 0 || this.session.outputFull()) {
        await this.#writable();
        continue;
      }
      const chunk = bytes.subarray(offset, offset + Math.min(bytes.length - offset, window, piece));
      const write = stderr ? libssh.ssh_channel_write_stderr : libssh.ssh_channel_write;
      const written = this.session.sendData(() => write(this.handle, chunk, chunk.length));
      if (written < 0) this.session.check(written, "writing to the channel");
      offset += written;
      this.session.updateInterest();
      if (written === 0) await this.#writable();
    }
  }

  #writable(): Promise<void> {
    if (this.#writers.length === 0 && !this.freed) this.#own.enable("writeWontblock", true);
    return new Promise((resolve) => this.#writers.push(resolve));
  }

  #wakeWriters(): void {
    const writers = this.#writers;
    if (writers.length === 0) return;
    this.#writers = [];
    if (!this.freed) this.#own.enable("writeWontblock", false);
    for (const wake of writers) wake();
  }

  /**
   * Opens the channel to the client as `forwarded-tcpip`; libssh answers
   * SSH_AGAIN until the client's reply arrived, so ask again after each
   * round of packets.
   */
  async openReverseForward(
    address: string,
    port: number,
    originAddress: string,
    originPort: number,
  ): Promise<void> {
    const { libssh } = this.session.backend;
    const args = [cString(address), port, cString(originAddress), originPort] as const;
    for (;;) {
      this.assertSendable();
      const rc = this.session.call(() => libssh.ssh_channel_open_reverse_forward(this.handle, ...args));
      this.session.updateInterest();
      if (rc === SSH_OK) return;
      if (rc !== SSH_AGAIN) {
        throw new SshError("libssh", "the client refused the forwarded-tcpip channel", {
          libsshMessage: this.session.errorText(),
        });
      }
      await new Promise<void>((resolve) => this.#progressWaiters.push(resolve));
    }
  }

  #wakeProgressWaiters(): void {
    const waiters = this.#progressWaiters;
    this.#progressWaiters = [];
    for (const wake of waiters) wake();
  }

  /** After the session processed packets: the window may have grown, the output drained. */
  sessionProgressed(outputFull: boolean): void {
    this.#wakeProgressWaiters();
    if (this.#writers.length === 0 || this.freed || outputFull) return;
    if (this.session.backend.libssh.ssh_channel_window_size(this.handle) > 0) this.#wakeWriters();
  }

  /** The connection is gone: nothing more will arrive or leave. */
  sessionGone(): void {
    this.remoteEof = true;
    this.#wakeProgressWaiters();
    this.#finishReader(new SshError("disconnected", "the session is disconnected"));
    this.#wakeWriters();
  }

  /** The session freed the native channel along with itself. */
  sessionFreed(): void {
    this.closed = true;
    this.freed = true;
    this.#finishReader(new SshError("disconnected", "the session was closed"));
    this.#releaseStructs();
    this.#wakeWriters();
    this.#releaseInput();
  }

  #releaseStructs(): void {
    for (const { struct, release } of this.#structs) {
      release?.();
      struct.release();
    }
    this.#structs.length = 0;
  }

  /** Closes and frees the native channel; runs outside libssh calls. */
  #free(): void {
    if (this.freed) return;
    const { libssh } = this.session.backend;
    this.freed = true;
    for (const { struct } of this.#structs) libssh.ssh_remove_channel_callbacks(this.handle, struct.pointer);
    this.#releaseStructs();
    this.session.channels.delete(this.address);
    // Sending the close fails when the peer is gone, and libssh then closes the socket: epoll says nothing about
    // a closed descriptor, so only call()'s look at the socket afterwards ends the session. The channel is freed
    // inside the same call, before that look can end (and free) the session.
    this.session.call(() => {
      if (!this.session.disconnected && !this.unconfirmed) libssh.ssh_channel_close(this.handle);
      libssh.ssh_channel_free(this.handle);
    });
    this.session.updateInterest();
    this.#finishReader();
    this.#wakeWriters();
    this.#releaseInput();
  }

  /** Nothing more will be consumed: what the consumer held no longer counts. */
  #releaseInput(): void {
    this.onInputRoom = undefined;
    if (this.#inputHeld !== 0) this.holdInput(-this.#inputHeld);
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.closed = true;
    this.#closing = this.enqueue(() =>
      new Promise<void>((resolve) =>
        this.session.defer(() => {
          this.#free();
          resolve();
        })
      )
    );
    return this.#closing;
  }

  get readable(): ReadableStream<Uint8Array> {
    this.live();
    if (this.#reader) throw new TypeError("the channel's readable stream was already taken");
    let reader!: Reader;
    const highWaterMark = this.session.limits.channelInputHighWaterMark;
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        const struct = this.#addStruct(
          {
            data: (data, isStderr) => {
              if (isStderr || reader.done) return data.length;
              this.delivering++; // enqueue() may run the consumer's code
              try {
                return this.#takeForReader(reader, data);
              } finally {
                this.delivering--;
              }
            },
          },
          "readable stream",
          ["data"],
          true,
        );
        // Data that arrived before the stream existed waits in libssh: the first pull takes it.
        reader = { controller, struct, highWaterMark, held: 0, paused: true, done: false };
        this.#reader = reader;
        this.onInputRoom = () => this.#resumeReader();
      },
      pull: () => {
        this.#syncReaderHeld();
        this.#resumeReader();
      },
      cancel: () => {
        reader.done = true;
        reader.paused = false;
        this.#syncReaderHeld();
      },
    }, { highWaterMark, size: (chunk) => chunk.byteLength });
    return stream;
  }

  #takeForReader(reader: Reader, data: Uint8Array): number {
    this.#syncReaderHeld();
    const taken = Math.min(data.length, this.inputRoom());
    if (taken < data.length) reader.paused = true; // libssh keeps the rest
    if (taken > 0) {
      reader.controller.enqueue(data.slice(0, taken)); // the piece is libssh's, valid during the call only
      this.#syncReaderHeld();
    }
    return taken;
  }

  /** Counts what the stream's queue holds against the channel's and session's input budgets. */
  #syncReaderHeld(): void {
    const reader = this.#reader;
    if (!reader) return;
    const held = reader.done ? 0 : Math.max(0, reader.highWaterMark - (reader.controller.desiredSize ?? 0));
    if (held !== reader.held) {
      const delta = held - reader.held;
      reader.held = held;
      this.holdInput(delta);
    }
  }

  /** The stream wants more: take what libssh kept while we were paused. */
  #resumeReader(): void {
    const reader = this.#reader;
    if (!reader || reader.done || !reader.paused || this.freed) return;
    reader.paused = false;
    for (let room = this.inputRoom(); room > 0 && !reader.done; room = this.inputRoom()) {
      const data = this.readKept(room);
      if (data === null || data.length === 0) break;
      reader.controller.enqueue(data); // a copy of its size, not a 64 KiB chunk held per read
      this.#syncReaderHeld();
    }
    if (reader.done) return;
    if (this.inputRoom() === 0 && !this.freed) {
      reader.paused = this.session.backend.libssh.ssh_channel_poll(this.handle, 0) > 0;
    }
    if (this.remoteEof) this.#finishReader();
  }

  #finishReader(error?: SshError): void {
    const reader = this.#reader;
    if (!reader || reader.done) return;
    if (!error && reader.paused && !this.freed) {
      const buffered = this.session.backend.libssh.ssh_channel_poll(this.handle, 0);
      if (buffered > 0 && buffered !== SSH_EOF) return; // closed once drained, by #resumeReader
    }
    reader.done = true;
    if (error) reader.controller.error(error);
    else reader.controller.close();
    this.#syncReaderHeld();
  }
}
