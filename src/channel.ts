/**
 * SSH channels: the byte streams (and their requests) inside a session.
 *
 * @module
 */

import type { Pointer } from "../ffi/backend.ts";
import { cString } from "../ffi/cstring.ts";
import { SSH_ERROR } from "../ffi/constants.ts";
import { CHANNEL_CALLBACKS } from "../ffi/structs.ts";
import { ACCEPTED, fieldsByName, forwarderFor, observeCallbacks, REFUSED } from "./_callbacks.ts";
import { CHANNEL_CORE, ChannelCore, envBytes } from "./_channel_core.ts";
import { SESSION_CORE, type SessionCore } from "./_session_core.ts";
import type { ChannelCallbackName, ChannelCallbacks } from "./callbacks.ts";
import type { Session } from "./session.ts";

const encoder = new TextEncoder();

const FIELDS = fieldsByName(CHANNEL_CALLBACKS);

/**
 * What the trampolines call for a `ChannelCallbacks` set: the table's
 * forwarders (methods on the prototype rather than closures, as a server
 * holds one set per channel), plus the channel's own bookkeeping.
 */
class ChannelCallbackHandlers extends forwarderFor(CHANNEL_CALLBACKS) {
  readonly #core: ServerChannelCore;

  constructor(core: ServerChannelCore, callbacks: ChannelCallbacks) {
    super([core.session.owner, core.owner], callbacks);
    this.#core = core;
  }

  data(data: Uint8Array<ArrayBuffer>, isStderr: boolean): number {
    const core = this.#core;
    core.delivering++; // the user's code must not read what libssh is handing over (`read()` waits)
    try {
      return this.forward(CHANNEL_CALLBACKS, "data", [data, isStderr]);
    } finally {
      core.delivering--;
    }
  }

  envRequest(name: string, value: string): number {
    const core = this.#core;
    const bytes = envBytes(name, value);
    if (!core.envFits(bytes)) return REFUSED;
    const answer = this.forward<number>(CHANNEL_CALLBACKS, "envRequest", [name, value]);
    if (answer === ACCEPTED) core.envAccepted(bytes);
    return answer;
  }
}

/** A server channel's core: its session is a server session, its owner an `SshChannel`. */
export type ServerChannelCore = ChannelCore<SessionCore, SshChannel>;

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
  private [CHANNEL_CORE]!: ServerChannelCore;

  /** Creates a channel on `session`, to return from `onChannelOpenRequestSession`. */
  constructor(session: Session) {
    const core = session[SESSION_CORE].live();
    const handle = core.backend.libssh.ssh_channel_new(core.handle);
    if (handle === null) core.check(SSH_ERROR, "creating a channel");
    this[CHANNEL_CORE] = new ChannelCore(core, handle, this);
  }

  /** Wraps a native channel that libssh created for `session` (an accepted channel open). */
  private static [CHANNEL_CORE](session: SessionCore, handle: Pointer): SshChannel {
    const channel = Object.create(SshChannel.prototype) as SshChannel;
    channel[CHANNEL_CORE] = new ChannelCore(session, handle, channel);
    return channel;
  }

  /** The session this channel belongs to. */
  get session(): Session {
    return this[CHANNEL_CORE].session.owner;
  }

  /** Whether the channel can still be used (not closed by either side). */
  get isOpen(): boolean {
    const core = this[CHANNEL_CORE];
    return !core.closed && !core.freed && !core.remoteClosed && !core.session.disconnected;
  }

  /** Whether the client sent EOF. */
  get isEof(): boolean {
    return this[CHANNEL_CORE].remoteEof;
  }

  /** How many bytes the client can take right now (its window). */
  get windowSize(): number {
    const core = this[CHANNEL_CORE].live();
    return core.session.backend.libssh.ssh_channel_window_size(core.handle);
  }

  /** Adds a set of callbacks (libssh keeps a list: earlier sets stay). */
  setCallbacks<U>(callbacks: ChannelCallbacks<U>): void {
    const core = this[CHANNEL_CORE].live();
    const set = callbacks as ChannelCallbacks;
    const fields = [...FIELDS].filter(([name]) => set[name as ChannelCallbackName] !== undefined)
      .map(([, field]) => field);
    core.addHandlers(
      new ChannelCallbackHandlers(core, set),
      "channel callback",
      fields,
      (struct) =>
        observeCallbacks(set, (name, isSet) => {
          const field = FIELDS.get(name);
          if (field) struct.enable(field, isSet);
        }),
    );
  }

  /**
   * Sends data; resolves when libssh has taken all of it, waiting for the
   * client's window as needed. Rejects with `SshError` `"disconnected"` when
   * the client or the session goes away first.
   */
  write(data: Uint8Array | string, options?: WriteOptions): Promise<void> {
    const core = this[CHANNEL_CORE].live();
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
    const core = this[CHANNEL_CORE].live();
    return core.enqueue(() => {
      if (core.eofSent) return;
      core.request("sending EOF", () => core.session.backend.libssh.ssh_channel_send_eof(core.handle));
      core.eofSent = true;
    });
  }

  /** Sends the command's exit status. Send it before EOF: some clients drop it after. */
  sendExitStatus(status: number): Promise<void> {
    const core = this[CHANNEL_CORE].live();
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
    const core = this[CHANNEL_CORE].live();
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
    const core = this[CHANNEL_CORE].live();
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
    return this[CHANNEL_CORE].close();
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
    return this[CHANNEL_CORE].readable;
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
    const core = this[CHANNEL_CORE].live();
    maxBytes ??= 64 * 1024;
    if (!Number.isInteger(maxBytes) || maxBytes < 1) {
      throw new RangeError("maxBytes must be a positive integer");
    }
    return core.readKept(maxBytes);
  }

  /** A stream view of `write()`; closing it sends EOF. */
  get writable(): WritableStream<Uint8Array> {
    this[CHANNEL_CORE].live();
    return new WritableStream<Uint8Array>({
      write: (chunk) => this.write(chunk),
      close: () => this.sendEof(),
      abort: () => this.close(),
    });
  }
}
