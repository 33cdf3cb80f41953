/**
 * SSH channels: the byte streams (and their requests) inside a session.
 *
 * @module
 */

import type { Backend, Pointer } from "../ffi/backend.ts";
import { cString } from "../ffi/cstring.ts";
import { SSH_AGAIN, SSH_EOF, SSH_ERROR, SSH_OK } from "../ffi/constants.ts";
import { type CallbackStruct, channelCallbackStruct, type ChannelHandlers } from "../ffi/trampolines.ts";
import type { ChannelCallbackField } from "../ffi/structs.ts";
import type { ChannelCallbackName, ChannelCallbacks } from "./callbacks.ts";
import { closedError, SshError } from "./errors.ts";
import type { LimitName, ResolvedLimits } from "./limits.ts";
import { type Session, type SessionCore, sessionCore } from "./session.ts";

const FIELDS: Record<ChannelCallbackName, ChannelCallbackField> = {
  onData: "data",
  onEof: "eof",
  onClose: "close",
  onSignal: "signal",
  onExitStatus: "exitStatus",
  onExitSignal: "exitSignal",
  onPtyRequest: "ptyRequest",
  onShellRequest: "shellRequest",
  onAuthAgentReq: "authAgentReq",
  onX11Req: "x11Req",
  onPtyWindowChange: "ptyWindowChange",
  onExecRequest: "execRequest",
  onEnvRequest: "envRequest",
  onSubsystemRequest: "subsystemRequest",
  onWriteWontblock: "writeWontblock",
};

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

/** A request callback's answer as libssh wants it: 0 accepts, -1 refuses. */
function acceptance(answer: unknown, name: string): number {
  if (typeof answer !== "boolean") throw new TypeError(`${name} must return a boolean synchronously`);
  return answer ? 0 : -1;
}

/**
 * What the trampolines call for a `ChannelCallbacks` set: methods on the
 * prototype rather than closures, as a server holds one per channel.
 */
class ChannelCallbackHandlers implements ChannelHandlers {
  constructor(
    readonly session: Session,
    readonly channel: SshChannel,
    readonly callbacks: ChannelCallbacks,
  ) {}

  data(_s: Pointer, _c: Pointer, data: Uint8Array, isStderr: boolean): number {
    const core = channelCore(this.channel);
    core.delivering++;
    let used;
    try {
      used = this.callbacks.onData!(this.session, this.channel, data, isStderr, this.callbacks.userdata);
    } finally {
      core.delivering--;
    }
    if (used === undefined) return data.length;
    if (typeof used !== "number" || !Number.isInteger(used) || used < 0 || used > data.length) {
      throw new TypeError(`onData must return a byte count from 0 to ${data.length}`);
    }
    return used;
  }
  eof(): void {
    this.callbacks.onEof!(this.session, this.channel, this.callbacks.userdata);
  }
  close(): void {
    this.callbacks.onClose!(this.session, this.channel, this.callbacks.userdata);
  }
  signal(_s: Pointer, _c: Pointer, signal: string): void {
    this.callbacks.onSignal!(this.session, this.channel, signal, this.callbacks.userdata);
  }
  exitStatus(_s: Pointer, _c: Pointer, status: number): void {
    this.callbacks.onExitStatus!(this.session, this.channel, status, this.callbacks.userdata);
  }
  exitSignal(_s: Pointer, _c: Pointer, signal: string, core: boolean, message: string, lang: string): void {
    this.callbacks.onExitSignal!(
      this.session,
      this.channel,
      signal,
      core,
      message,
      lang,
      this.callbacks.userdata,
    );
  }
  ptyRequest(_s: Pointer, _c: Pointer, term: string, w: number, h: number, pw: number, ph: number): number {
    const { callbacks } = this;
    return acceptance(
      callbacks.onPtyRequest!(this.session, this.channel, term, w, h, pw, ph, callbacks.userdata),
      "onPtyRequest",
    );
  }
  shellRequest(): number {
    return acceptance(
      this.callbacks.onShellRequest!(this.session, this.channel, this.callbacks.userdata),
      "onShellRequest",
    );
  }
  authAgentReq(): void {
    this.callbacks.onAuthAgentReq!(this.session, this.channel, this.callbacks.userdata);
  }
  x11Req(_s: Pointer, _c: Pointer, single: boolean, protocol: string, cookie: string, screen: number): void {
    const { callbacks } = this;
    callbacks.onX11Req!(this.session, this.channel, single, protocol, cookie, screen, callbacks.userdata);
  }
  ptyWindowChange(_s: Pointer, _c: Pointer, w: number, h: number, pw: number, ph: number): number {
    const { callbacks } = this;
    return acceptance(
      callbacks.onPtyWindowChange!(this.session, this.channel, w, h, pw, ph, callbacks.userdata),
      "onPtyWindowChange",
    );
  }
  execRequest(_s: Pointer, _c: Pointer, command: string): number {
    const { callbacks } = this;
    return acceptance(
      callbacks.onExecRequest!(this.session, this.channel, command, callbacks.userdata),
      "onExecRequest",
    );
  }
  envRequest(_s: Pointer, _c: Pointer, name: string, value: string): number {
    const { callbacks } = this;
    const core = channelCore(this.channel);
    const bytes = envBytes(name, value);
    if (!core.envFits(bytes)) return -1;
    const answer = acceptance(
      callbacks.onEnvRequest!(this.session, this.channel, name, value, callbacks.userdata),
      "onEnvRequest",
    );
    if (answer === 0) core.envAccepted(bytes);
    return answer;
  }
  subsystemRequest(_s: Pointer, _c: Pointer, subsystem: string): number {
    const { callbacks } = this;
    return acceptance(
      callbacks.onSubsystemRequest!(this.session, this.channel, subsystem, callbacks.userdata),
      "onSubsystemRequest",
    );
  }
  writeWontblock(_s: Pointer, _c: Pointer, bytes: number): number {
    this.callbacks.onWriteWontblock!(this.session, this.channel, bytes, this.callbacks.userdata);
    return 0;
  }
}

/**
 * What a channel needs of the session it belongs to: the server's
 * `SessionCore` and the client's core both provide it.
 */
export interface ChannelHost {
  readonly backend: Backend;
  /** The native session. */
  readonly handle: Pointer;
  /** The session's open channels, by native address; a channel adds and removes itself. */
  readonly channels: Map<bigint, ChannelOwner>;
  /** The connection ended: nothing more can be sent. */
  readonly disconnected: boolean;
  /** Where errors thrown by callbacks go. */
  onError(error: unknown, context: string): void;
  /** Runs a libssh call that may call back into JS (frees requested meanwhile wait until it returns). */
  call<T>(fn: () => T): T;
  /** Runs `fn` now, or right after the libssh call in progress returns. */
  defer(fn: () => void): void;
  /** libssh's last error text for the session. */
  errorText(): string;
  /** Recomputes what the reactor waits for on the session's socket. */
  updateInterest(): void;
  /** Whether a libssh call runs (for any session): a write must not go straight into libssh then. */
  readonly inLibssh: boolean;
  /** The bounds in force (`ServerLimits`; a client session uses the defaults). */
  readonly limits: ResolvedLimits;
  /** Whether writers wait: libssh holds the output high-water mark or more for the socket. */
  outputFull(): boolean;
  /** Runs `write` (an `ssh_channel_write`) through `call`, counting what libssh may queue of it. */
  sendData(write: () => number): number;
  /** Traffic went out (the idle timeout counts from now). */
  noteActivity(): void;
  /** A refusal at a limit that leaves the session up. */
  reportLimit(limit: LimitName): void;
  /** Bytes of channel input the session's consumers hold in JS (see `ChannelCore.holdInput`). */
  inputHeld: number;
  /** A channel was refused input room because of the session's budget. */
  inputStarved: boolean;
  /** The session's input budget has room again. */
  inputFreed(): void;
}

/** The public object a channel core serves. */
export interface ChannelOwner {
  close(): Promise<void>;
}

/** The internals of a channel (not part of the public API). */
export class ChannelCore<H extends ChannelHost = SessionCore, O extends ChannelOwner = SshChannel> {
  readonly session: H;
  readonly handle: Pointer;
  readonly address: bigint;
  readonly channel: O;
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
  readonly #structs: { struct: CallbackStruct<ChannelCallbackField>; unobserve?: () => void }[] = [];
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

  constructor(session: H, handle: Pointer, channel: O) {
    this.session = session;
    this.handle = handle;
    this.address = session.backend.address(handle);
    this.channel = channel;
    session.channels.set(this.address, channel);
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
        void this.channel.close();
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
    if (this.session.backend.libssh.ssh_add_channel_callbacks(this.handle, struct.pointer) !== SSH_OK) {
      struct.release();
      throw new SshError("libssh", "adding channel callbacks failed", {
        libsshMessage: this.session.errorText(),
      });
    }
    this.#structs.push({ struct });
    return struct;
  }

  /** Adds decoded libssh channel callbacks; they are removed when the channel is freed. */
  addHandlers(handlers: Partial<ChannelHandlers>, context: string): void {
    this.#addStruct(handlers, context);
  }

  setCallbacks(this: ChannelCore<SessionCore, SshChannel>, callbacks: ChannelCallbacks): void {
    const handlers = new ChannelCallbackHandlers(this.session.session, this.channel, callbacks);
    const set = (Object.keys(FIELDS) as ChannelCallbackName[]).filter((name) =>
      callbacks[name] !== undefined
    );
    const struct = this.#addStruct(handlers, "channel callback", set.map((name) => FIELDS[name]));
    const entry = this.#structs[this.#structs.length - 1];
    entry.unobserve = callbacks.observe((name, isSet) => {
      const field = FIELDS[name as ChannelCallbackName];
      if (field) struct.enable(field, isSet);
    });
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
    if (rc === SSH_ERROR) {
      throw new SshError("libssh", `${what} failed`, { libsshMessage: this.session.errorText() });
    }
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
        data: (_s, _c, data, isStderr) => {
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
      if (written < 0) {
        throw new SshError("libssh", "writing to the channel failed", {
          libsshMessage: this.session.errorText(),
        });
      }
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
    for (const { struct, unobserve } of this.#structs) {
      unobserve?.();
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
    if (!this.session.disconnected && !this.unconfirmed) libssh.ssh_channel_close(this.handle);
    libssh.ssh_channel_free(this.handle);
    this.session.channels.delete(this.address);
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
            data: (_s, _c, data, isStderr) => {
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

const coreOf = new WeakMap<SshChannel, ChannelCore>();

/** The internals of a channel (not part of the public API). */
export function channelCore(channel: SshChannel): ChannelCore {
  const core = coreOf.get(channel);
  if (!core) throw new TypeError("not an SshChannel");
  return core;
}

let adopt: (session: SessionCore, handle: Pointer) => SshChannel;

/** Wraps a native channel that libssh created for `session` (e.g. an accepted direct-tcpip open). */
export function adoptChannel(session: SessionCore, handle: Pointer): SshChannel {
  return adopt(session, handle);
}

/** Options of `SshChannel.write`. */
export interface WriteOptions {
  /** Send as stderr (extended data) instead of stdout. */
  stderr?: boolean;
}

/** Options of `SshChannel.openForwardedTcpip`: which forwarding the connection belongs to, and who made it. */
export interface ForwardedTcpipOptions {
  /** The address the client asked to forward (as in its `tcpip-forward` request). */
  address: string;
  /** The port that was bound for the forwarding (the allocated one for port 0). */
  port: number;
  /** The address the connection came from. */
  originAddress: string;
  /** The port the connection came from. */
  originPort: number;
}

/** Options of `SshChannel.sendExitSignal`. */
export interface ExitSignalOptions {
  /** Whether a core was dumped. */
  core?: boolean;
  /** A message for the client. */
  message?: string;
  /** Language tag of the message. */
  language?: string;
}

/**
 * An SSH channel on a server session. Writes honour the client's window:
 * `write()` resolves once libssh has taken every byte, and waits while the
 * client is not reading. Operations run in call order (data, then exit
 * status, then EOF, then close).
 *
 * @example Accept a session channel and answer exec requests
 * ```ts
 * import { ChannelCallbacks, ServerCallbacks, SshChannel } from "@libssh/libssh";
 *
 * const server = new ServerCallbacks(undefined, {
 *   onChannelOpenRequestSession: (session) => {
 *     const channel = new SshChannel(session);
 *     channel.setCallbacks(new ChannelCallbacks(undefined, {
 *       onExecRequest: (_s, ch, command) => {
 *         void ch.write(`${command}\n`).then(() => ch.sendExitStatus(0)).then(() => ch.close());
 *         return true;
 *       },
 *     }));
 *     return channel;
 *   },
 * });
 * ```
 */
export class SshChannel {
  /** Creates a channel on `session`, to return from `onChannelOpenRequestSession`. */
  constructor(session: Session) {
    const core = sessionCore(session).live();
    const handle = core.backend.libssh.ssh_channel_new(core.handle);
    if (handle === null) {
      throw new SshError("libssh", "creating a channel failed", { libsshMessage: core.errorText() });
    }
    coreOf.set(this, new ChannelCore(core, handle, this));
  }

  static {
    adopt = (session, handle) => {
      const channel = Object.create(SshChannel.prototype) as SshChannel;
      coreOf.set(channel, new ChannelCore(session, handle, channel));
      return channel;
    };
  }

  /** The session this channel belongs to. */
  get session(): Session {
    return channelCore(this).session.session;
  }

  /** Whether the channel can still be used (not closed by either side). */
  get isOpen(): boolean {
    const core = channelCore(this);
    return !core.closed && !core.freed && !core.remoteClosed && !core.session.disconnected;
  }

  /** Whether the client sent EOF. */
  get isEof(): boolean {
    return channelCore(this).remoteEof;
  }

  /** How many bytes the client can take right now (its window). */
  get windowSize(): number {
    const core = channelCore(this).live();
    return core.session.backend.libssh.ssh_channel_window_size(core.handle);
  }

  /** Adds a set of callbacks (libssh keeps a list: earlier sets stay). */
  setCallbacks<U>(callbacks: ChannelCallbacks<U>): void {
    channelCore(this).live().setCallbacks(callbacks as ChannelCallbacks);
  }

  /**
   * Sends data; resolves when libssh has taken all of it, waiting for the
   * client's window as needed. Rejects with `SshError` `"disconnected"` when
   * the client or the session goes away first.
   */
  write(data: Uint8Array | string, options?: WriteOptions): Promise<void> {
    const core = channelCore(this).live();
    const stderr = options?.stderr === true;
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      throw new TypeError("write() takes a Uint8Array or a string");
    }
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    const taken = core.writeNow(bytes, stderr);
    if (taken === bytes.length && bytes.length > 0) return Promise.resolve();
    // The rest waits in the queue: a copy, as the caller may reuse its buffer once we return.
    const rest = typeof data === "string" ? bytes.subarray(taken) : bytes.slice(taken);
    return core.enqueue(() => core.writeAll(rest as Uint8Array<ArrayBuffer>, stderr));
  }

  /** Sends EOF: no more data from the server. */
  sendEof(): Promise<void> {
    const core = channelCore(this).live();
    return core.enqueue(() => {
      if (core.eofSent) return;
      core.request("sending EOF", () => core.session.backend.libssh.ssh_channel_send_eof(core.handle));
      core.eofSent = true;
    });
  }

  /** Sends the command's exit status. Send it before EOF: some clients drop it after. */
  sendExitStatus(status: number): Promise<void> {
    const core = channelCore(this).live();
    if (!Number.isInteger(status) || status < 0 || status > 0xffffffff) {
      throw new RangeError("exit status must be an integer from 0 to 4294967295");
    }
    return core.enqueue(() =>
      core.request(
        "sending the exit status",
        () => core.session.backend.libssh.ssh_channel_request_send_exit_status(core.handle, status),
      )
    );
  }

  /** Sends the signal that ended the command (`"TERM"` or `"SIGTERM"`). */
  sendExitSignal(signal: string, options?: ExitSignalOptions): Promise<void> {
    const core = channelCore(this).live();
    const name = typeof signal === "string" ? signal.replace(/^SIG/, "") : "";
    if (!/^[A-Z0-9]+$/.test(name)) throw new TypeError(`not a signal name: ${signal}`);
    return core.enqueue(() =>
      core.request(
        "sending the exit signal",
        () =>
          core.session.backend.libssh.ssh_channel_request_send_exit_signal(
            core.handle,
            cString(name),
            options?.core ? 1 : 0,
            cString(options?.message ?? ""),
            cString(options?.language ?? ""),
          ),
      )
    );
  }

  /**
   * Opens this new channel towards the client as a `forwarded-tcpip` channel:
   * a connection arrived on a port the client asked the server to listen on
   * with a `tcpip-forward` global request (`ssh -R`). Resolves once the client
   * accepted it; rejects with `SshError` when the client refuses.
   *
   * @example
   * ```ts
   * import { type Session, SshChannel } from "@libssh/libssh";
   *
   * declare const session: Session; // a logged-in session that sent `tcpip-forward`
   * const channel = new SshChannel(session);
   * await channel.openForwardedTcpip({ address: "localhost", port: 8080, originAddress: "127.0.0.1", originPort: 40000 });
   * await channel.write("hello");
   * ```
   */
  openForwardedTcpip(options: ForwardedTcpipOptions): Promise<void> {
    const core = channelCore(this).live();
    for (const name of ["port", "originPort"] as const) {
      const value = options[name];
      if (!Number.isInteger(value) || value < 0 || value > 65535) {
        throw new RangeError(`${name} must be an integer from 0 to 65535`);
      }
    }
    return core.enqueue(() =>
      core.openReverseForward(options.address, options.port, options.originAddress, options.originPort)
    );
  }

  /** Closes the channel after queued writes; idempotent. */
  close(): Promise<void> {
    return channelCore(this).close();
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * The client's data as a stream, with back-pressure: while the stream is
   * full, libssh keeps the data and the client's window stops growing. Can be
   * taken once.
   */
  get readable(): ReadableStream<Uint8Array> {
    return channelCore(this).readable;
  }

  /**
   * Takes data that libssh kept for this channel because `onData` consumed
   * less than it was given (back-pressure: the client's window stays closed
   * meanwhile). Returns up to `maxBytes` (default 64 KiB), an empty array when nothing is kept,
   * and `null` once the client sent EOF and everything was read. Call it when
   * your consumer has room again: libssh calls `onData` only when new data
   * arrives, and a client whose window is closed sends none. libssh processes
   * packets that arrived first, so `onData` may run during the call; inside
   * `onData` itself this returns an empty array.
   *
   * @example Hand stdin to a slow consumer without holding more than it takes
   * ```ts
   * import { ChannelCallbacks, type SshChannel } from "@libssh/libssh";
   *
   * declare const channel: SshChannel;
   * declare const sink: { room(): number; write(data: Uint8Array): void; onDrain(f: () => void): void };
   * const take = (data: Uint8Array): number => {
   *   const n = Math.min(data.length, sink.room());
   *   sink.write(data.subarray(0, n));
   *   return n; // libssh keeps the rest
   * };
   * channel.setCallbacks(new ChannelCallbacks(undefined, { onData: (_s, _c, data) => take(data) }));
   * sink.onDrain(() => {
   *   for (let data = channel.read(sink.room()); data !== null && data.length > 0; data = channel.read(sink.room())) {
   *     sink.write(data);
   *   }
   * });
   * ```
   */
  read(maxBytes?: number): Uint8Array | null {
    const core = channelCore(this).live();
    maxBytes ??= 64 * 1024;
    if (!Number.isInteger(maxBytes) || maxBytes < 1) {
      throw new RangeError("maxBytes must be a positive integer");
    }
    return core.readKept(maxBytes);
  }

  /** A stream view of `write()`; closing it sends EOF. */
  get writable(): WritableStream<Uint8Array> {
    channelCore(this).live();
    return new WritableStream<Uint8Array>({
      write: (chunk) => this.write(chunk),
      close: () => this.sendEof(),
      abort: () => this.close(),
    });
  }
}
