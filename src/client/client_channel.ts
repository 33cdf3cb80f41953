/**
 * `ClientChannel`: a channel this client opened (a session for commands, a
 * direct-tcpip connection) or accepted (a forwarded connection), on the
 * server's channel core: back-pressured writes, ordered operations.
 *
 * @module
 */

import type { Pointer } from "../../ffi/backend.ts";
import { SSH_AGAIN, SSH_ERROR, SSH_OK, SSH_REQUEST_DENIED } from "../../ffi/constants.ts";
import { cString } from "../../ffi/cstring.ts";
import { ChannelCore, type ChannelOwner } from "../_channel_core.ts";
import { closedError, SshError } from "../errors.ts";
import type { ClientSession } from "../client.ts";
import { ChannelStreams } from "./channel_streams.ts";
import type { ClientCore } from "./client_core.ts";

/** Terminal of a `requestPty` / `pty` option. */
export interface PtyOptions {
  /** `TERM` of the remote side. Default `"xterm-256color"`. */
  term?: string;
  /** Columns. Default 80. */
  cols?: number;
  /** Rows. Default 24. */
  rows?: number;
}

/** How a remote command ended. */
export interface ExitResult {
  /** The exit status, when the command exited (null when a signal ended it, or the server sent none). */
  exitStatus: number | null;
  /** The signal that ended it, without `SIG` (e.g. `"TERM"`), or null. */
  exitSignal: string | null;
  /** Whether the signal dumped core. */
  coreDumped: boolean;
}

/** Options of `ClientChannel.write`. */
export interface ClientWriteOptions {
  /** Send as extended data (stderr) rather than data. */
  stderr?: boolean;
}

/**
 * The server refused to open a channel: `reason` is its explanation, e.g.
 * `"Connection refused"` for a direct-tcpip target that is down.
 *
 * @example
 * ```ts
 * import { ChannelOpenError, type ClientSession } from "@libssh/libssh";
 *
 * declare const ssh: ClientSession;
 * try {
 *   await ssh.openDirectTcpip({ host: "127.0.0.1", port: 1 });
 * } catch (e) {
 *   if (e instanceof ChannelOpenError) console.log(e.reason);
 * }
 * ```
 */
export class ChannelOpenError extends SshError {
  /** The server's reason (libssh's text). */
  readonly reason: string;

  /** Creates the error for a refused `what` ("session", "direct-tcpip to host:port"). */
  constructor(what: string, reason: string) {
    super("channel-open-failed", `the server refused to open the ${what} channel`, { libsshMessage: reason });
    this.name = "ChannelOpenError";
    this.reason = reason;
  }
}

const encoder = new TextEncoder();

function dimension(value: number | undefined, fallback: number, name: string): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < 1 || n > 0xffff) {
    throw new RangeError(`${name} must be an integer from 1 to 65535`);
  }
  return n;
}

/** What a `ClientChannel` holds; the channel core knows it as its owner. */
export class ChannelState implements ChannelOwner {
  /** The public face. */
  readonly channel: ClientChannel;
  readonly core: ChannelCore<ClientCore, ChannelOwner>;
  readonly streams: ChannelStreams;
  readonly session: ClientSession;
  readonly exited: Promise<ExitResult>;
  #exit: ExitResult = { exitStatus: null, exitSignal: null, coreDumped: false };
  #settleExit!: (error?: SshError) => void;
  #closing: Promise<void> | undefined;
  #unlink: () => void;

  constructor(channel: ClientChannel, session: ClientSession, core: ClientCore, handle: Pointer) {
    this.channel = channel;
    this.session = session;
    this.core = new ChannelCore<ClientCore, ChannelOwner>(core, handle, this);
    this.streams = new ChannelStreams(this.core);
    this.exited = new Promise<ExitResult>((resolve, reject) => {
      this.#settleExit = (error) => error && !this.#exitKnown() ? reject(error) : resolve({ ...this.#exit });
    });
    this.exited.catch(() => {}); // rejected when nobody waits for it: not an unhandled rejection
    this.core.addHandlers({
      exitStatus: (status) => this.#exit.exitStatus = status,
      exitSignal: (signal, coreDumped) => {
        this.#exit.exitSignal = signal;
        this.#exit.coreDumped = coreDumped;
      },
      close: () => this.#settleExit(),
    }, "client channel exit");
    this.#unlink = core.link({
      progressed: (outputFull) => this.core.sessionProgressed(outputFull),
      gone: () => {
        this.core.sessionGone();
        const error = core.disconnectedError();
        this.streams.close(error);
        this.#settleExit(error);
      },
      freed: () => {
        this.core.sessionFreed();
        this.streams.close(closedError("ClientSession"));
        this.#settleExit(closedError("ClientSession"));
      },
    });
  }

  #exitKnown(): boolean {
    return this.#exit.exitStatus !== null || this.#exit.exitSignal !== null;
  }

  /** `close()` was called on the public channel: its methods throw `closed`. */
  userClosed = false;

  /** The server closed the channel: free it once the streams took what libssh kept. */
  close(): Promise<void> {
    return this.streams.drained.then(() => this.closeLocal());
  }

  /** Closes and frees the channel (after the operations queued before). */
  closeLocal(): Promise<void> {
    this.#closing ??= this.core.close().then(() => {
      this.#unlink();
      this.streams.close();
      this.#settleExit();
    });
    return this.#closing;
  }

  /** Why an operation cannot reach the server: the channel or the session is gone. */
  #goneError(): SshError {
    const session = this.core.session;
    if (session.disconnected || session.closed) return session.disconnectedError();
    return new SshError("disconnected", "the server closed the channel");
  }

  /**
   * Queues `operation` after the earlier ones; once the server closed the
   * channel (or the session ended), operations reject with `disconnected`.
   */
  enqueue<T>(operation: () => T | Promise<T>): Promise<T> {
    const core = this.core;
    if (core.freed || core.remoteClosed || core.session.disconnected) {
      return Promise.reject(this.#goneError());
    }
    return core.enqueue(operation).catch((error: unknown) => {
      // The core words it from the server's side ("the client closed the channel").
      const gone = error instanceof SshError && (error.code === "closed" || error.code === "disconnected");
      throw gone && !this.userClosed ? this.#goneError() : error;
    });
  }

  /** Runs a channel request after the queued operations; SSH_ERROR becomes `request-denied` or `libssh`. */
  request(what: string, fn: () => number, denied?: string): Promise<void> {
    const core = this.core;
    return this.enqueue(async () => {
      core.assertSendable();
      const session = core.session;
      const rc = await session.untilDone(fn);
      if (rc === SSH_OK) return;
      if (session.disconnected || session.closed) throw session.disconnectedError();
      const libsshMessage = session.errorText();
      if (session.backend.libssh.ssh_get_error_code(session.handle) === SSH_REQUEST_DENIED) {
        throw new SshError("request-denied", denied ?? `the server refused the ${what} request`, {
          libsshMessage,
        });
      }
      throw new SshError("libssh", `the ${what} request failed`, { libsshMessage });
    });
  }
}

const states = new WeakMap<ClientChannel, ChannelState>();

/** The internals of a client channel (not part of the public API). */
export function channelState(channel: ClientChannel): ChannelState {
  const state = states.get(channel);
  if (!state) throw new TypeError("not a ClientChannel");
  return state;
}

/** The internals of a channel that is not closed; throws `SshError("closed")` otherwise. */
function liveState(channel: ClientChannel): ChannelState {
  const state = channelState(channel);
  if (state.userClosed) throw closedError("ClientChannel");
  return state;
}

let create: (session: ClientSession, core: ClientCore, handle: Pointer) => ClientChannel;

/** Wraps a native channel of `core` (new, or accepted from the server). */
export function wrapChannel(session: ClientSession, core: ClientCore, handle: Pointer): ClientChannel {
  return create(session, core, handle);
}

/**
 * Opens a new channel with `open` (`ssh_channel_open_session`, `_forward`),
 * called again after each round of packets until the server answered.
 * Rejects with `ChannelOpenError` when the server refuses. On abort the open
 * is left to finish, and the channel is closed then.
 */
export async function openChannel(
  session: ClientSession,
  core: ClientCore,
  what: string,
  open: (handle: Pointer) => number,
  signal?: AbortSignal,
): Promise<ClientChannel> {
  core.assertConnected();
  const handle = core.backend.libssh.ssh_channel_new(core.handle);
  if (handle === null) {
    core.check(SSH_ERROR, "creating a channel");
  }
  const channel = wrapChannel(session, core, handle);
  const state = channelState(channel);
  state.core.unconfirmed = true;
  const opened = core.untilDone(() => open(handle), SSH_AGAIN);
  const settled = opened.then((rc) => {
    if (rc === SSH_OK) state.core.unconfirmed = false;
    return rc;
  }, (error) => {
    void state.closeLocal();
    throw error;
  });
  let rc: number;
  try {
    rc = await (signal ? raceAbort(settled, signal) : settled);
  } catch (error) {
    if (signal?.aborted) void settled.then(() => state.closeLocal(), () => {});
    throw error;
  }
  if (rc !== SSH_OK) {
    const reason = core.errorText();
    await state.closeLocal();
    if (core.disconnected) throw core.disconnectedError();
    throw new ChannelOpenError(what, reason);
  }
  return channel;
}

function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * A channel of a `ClientSession`: a session channel (`openSession`, behind
 * `run`/`spawn`/`shell`) or a TCP connection through the server
 * (`openDirectTcpip`, forwarded ports). Writes wait for the server's window;
 * operations run in call order (requests, data, EOF, close). `readable` and
 * `stderr` hold what the server sent, apart, with back-pressure: read (or
 * cancel) both, or the server stops sending once 1 MiB waits in either.
 *
 * @example Run a command by hand
 * ```ts
 * import type { ClientSession } from "@libssh/libssh";
 *
 * declare const ssh: ClientSession;
 * await using channel = await ssh.openSession();
 * await channel.requestEnv("LANG", "C");
 * await channel.requestExec("cat");
 * await channel.write("hello\n");
 * await channel.sendEof();
 * console.log(await new Response(channel.readable).text(), await channel.exited);
 * ```
 */
export class ClientChannel {
  private constructor() {}

  static {
    create = (session, core, handle) => {
      const channel = new ClientChannel();
      states.set(channel, new ChannelState(channel, session, core, handle));
      return channel;
    };
  }

  /** The session this channel belongs to. */
  get session(): ClientSession {
    return channelState(this).session;
  }

  /** Whether the channel can still be used (not closed by either side, session up). */
  get isOpen(): boolean {
    const { core } = channelState(this);
    return !core.closed && !core.freed && !core.remoteClosed && !core.session.disconnected;
  }

  /** Whether the server sent EOF. */
  get isEof(): boolean {
    return channelState(this).core.remoteEof;
  }

  /** How many bytes the server can take right now (its window). */
  get windowSize(): number {
    const { core } = liveState(this);
    if (core.freed) return 0;
    return core.session.backend.libssh.ssh_channel_window_size(core.handle);
  }

  /** The server's data (a command's stdout), with back-pressure. */
  get readable(): ReadableStream<Uint8Array> {
    return channelState(this).streams.stdout;
  }

  /** The server's extended data (a command's stderr), with back-pressure. */
  get stderr(): ReadableStream<Uint8Array> {
    return channelState(this).streams.stderr;
  }

  /** A stream view of `write()`; closing it sends EOF, aborting it closes the channel. */
  get writable(): WritableStream<Uint8Array> {
    liveState(this);
    return new WritableStream<Uint8Array>({
      write: (chunk) => this.write(chunk),
      close: () => this.sendEof(),
      abort: () => this.close(),
    });
  }

  /**
   * Resolves once the server closed the channel, with the exit status or
   * signal it sent (nulls for a channel that carried no command, or that this
   * side closed first). Rejects with `SshError` `"disconnected"` when the
   * connection ended before the command did.
   */
  get exited(): Promise<ExitResult> {
    return channelState(this).exited;
  }

  /**
   * Sends data; resolves once libssh has taken all of it, waiting for the
   * server's window as needed. Rejects with `SshError` `"disconnected"` when
   * the server or the session goes away first.
   */
  write(data: Uint8Array | string, options?: ClientWriteOptions): Promise<void> {
    const state = liveState(this);
    const stderr = options?.stderr === true;
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      throw new TypeError("write() takes a Uint8Array or a string");
    }
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    const taken = state.core.writeNow(bytes, stderr);
    if (taken === bytes.length && bytes.length > 0) return Promise.resolve();
    // The rest waits in the queue: a copy, as the caller may reuse its buffer once we return.
    const rest = typeof data === "string" ? bytes.subarray(taken) : bytes.slice(taken);
    return state.enqueue(() => state.core.writeAll(rest as Uint8Array<ArrayBuffer>, stderr));
  }

  /** Sends EOF: no more data from this side (a command's stdin ends). */
  sendEof(): Promise<void> {
    const state = liveState(this);
    const core = state.core;
    return state.enqueue(() => {
      if (core.eofSent) return;
      core.request("sending EOF", () => core.session.backend.libssh.ssh_channel_send_eof(core.handle));
      core.eofSent = true;
    });
  }

  /** Asks for a pseudo-terminal (before `requestShell` / `requestExec`). */
  requestPty(options?: PtyOptions): Promise<void> {
    const state = liveState(this);
    const term = cString(options?.term ?? "xterm-256color");
    const cols = dimension(options?.cols, 80, "cols");
    const rows = dimension(options?.rows, 24, "rows");
    const { libssh } = state.core.session.backend;
    return state.request(
      "pty",
      () => libssh.ssh_channel_request_pty_size(state.core.handle, term, cols, rows),
    );
  }

  /**
   * Sets an environment variable of the command to come. OpenSSH's sshd
   * refuses names that its `AcceptEnv` does not list: the promise then
   * rejects with `SshError` `"request-denied"`.
   */
  requestEnv(name: string, value: string): Promise<void> {
    const state = liveState(this);
    if (typeof name !== "string" || name === "" || name.includes("=")) {
      throw new TypeError(`not an environment variable name: ${String(name)}`);
    }
    if (typeof value !== "string") throw new TypeError(`the value of ${name} must be a string`);
    const nameText = cString(name);
    const valueText = cString(value);
    const { libssh } = state.core.session.backend;
    return state.request(
      "env",
      () => libssh.ssh_channel_request_env(state.core.handle, nameText, valueText),
      `the server refused the environment variable ${name} (OpenSSH's sshd accepts only the names its AcceptEnv lists)`,
    );
  }

  /** Runs `command` (through the user's shell on the server). */
  requestExec(command: string): Promise<void> {
    const state = liveState(this);
    if (typeof command !== "string") throw new TypeError("the command must be a string");
    const text = cString(command);
    const { libssh } = state.core.session.backend;
    return state.request("exec", () => libssh.ssh_channel_request_exec(state.core.handle, text));
  }

  /**
   * Asks the server to forward agent connections of this channel's command
   * back to this side (`auth-agent-req@openssh.com`; before `requestExec` /
   * `requestShell`). Only a session made with `agentForwarding` relays them
   * to the local agent; any other refuses them. `run`, `spawn` and `shell`
   * send it themselves when the session has `agentForwarding`.
   */
  requestAgentForwarding(): Promise<void> {
    const state = liveState(this);
    const { libssh } = state.core.session.backend;
    return state.request("auth-agent-req", () => libssh.ssh_channel_request_auth_agent(state.core.handle));
  }

  /** Starts the user's login shell. */
  requestShell(): Promise<void> {
    const state = liveState(this);
    const { libssh } = state.core.session.backend;
    return state.request("shell", () => libssh.ssh_channel_request_shell(state.core.handle));
  }

  /** Starts a subsystem, e.g. `"sftp"`. */
  requestSubsystem(name: string): Promise<void> {
    const state = liveState(this);
    if (typeof name !== "string" || name === "") throw new TypeError("the subsystem must be a name");
    const text = cString(name);
    const { libssh } = state.core.session.backend;
    return state.request(
      `subsystem ${name}`,
      () => libssh.ssh_channel_request_subsystem(state.core.handle, text),
    );
  }

  /** Tells the server the terminal's new size (after `requestPty`). */
  resize(cols: number, rows: number): Promise<void> {
    const state = liveState(this);
    const c = dimension(cols, 80, "cols");
    const r = dimension(rows, 24, "rows");
    const { libssh } = state.core.session.backend;
    return state.request("window-change", () => libssh.ssh_channel_change_pty_size(state.core.handle, c, r));
  }

  /** Sends a signal to the command (`"TERM"` or `"SIGTERM"`); OpenSSH's sshd delivers it from 8.1 on. */
  sendSignal(signal: string): Promise<void> {
    const state = liveState(this);
    const name = typeof signal === "string" ? signal.replace(/^SIG/, "") : "";
    if (!/^[A-Z0-9]+$/.test(name)) throw new TypeError(`not a signal name: ${String(signal)}`);
    const text = cString(name);
    const { libssh } = state.core.session.backend;
    return state.request("signal", () => libssh.ssh_channel_request_send_signal(state.core.handle, text));
  }

  /** Closes the channel after the queued operations; idempotent. The streams end (what they hold stays readable). */
  close(): Promise<void> {
    const state = channelState(this);
    state.userClosed = true;
    return state.closeLocal();
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
