/**
 * What a server session and a client session share below their public
 * classes: the native `ssh_session`, the guard around calls that may call
 * back into JS, the output libssh holds for the socket, and the channel cores
 * the session owns. Private: not exported from `mod.ts`.
 *
 * @module
 */

import type { Backend, Pointer } from "../ffi/backend.ts";
import { SSH_CLOSED, SSH_CLOSED_ERROR, SSH_OK, SSH_WRITE_PENDING } from "../ffi/constants.ts";
import { OutputCounters } from "../ffi/counters.ts";
import { POLLERR, POLLHUP, POLLIN, POLLNVAL } from "../ffi/platform.ts";
import type { ChannelCore } from "./_channel_core.ts";
import { SshError } from "./errors.ts";
import { enterLibssh, inLibssh, leaveLibssh } from "./libssh_calls.ts";
import { type LimitName, type ResolvedLimits, resolveLimits } from "./limits.ts";

/** Where callback errors go: the error, and which callback threw. */
export type ErrorHandler = (error: unknown, context: string) => void;

const DEFAULT_RESOLVED_LIMITS = resolveLimits();

/**
 * A native session and what every use of it needs; `SessionCore` (server)
 * and `ClientCore` (client) extend it with their own event loop side.
 *
 * @example
 * ```ts ignore
 * core.check(core.call(() => core.backend.libssh.ssh_channel_send_eof(channel)), "sending EOF");
 * ```
 */
export abstract class LibsshSession {
  readonly backend: Backend;
  readonly handle: Pointer;
  /** The socket libssh reads and writes. */
  readonly fd: number;
  /** The channels of this session, by native address: each channel core adds and removes itself. */
  readonly channels: Map<bigint, ChannelCore> = new Map();
  /** Set once the connection ended (peer gone, error, or closed). */
  disconnected = false;
  /** Set once the native session was freed: nothing may touch `handle` any more. */
  destroyed = false;
  /** The bounds in force (`ServerLimits`; a client session uses the defaults). */
  limits: ResolvedLimits = DEFAULT_RESOLVED_LIMITS;
  /** Bytes of channel input this session's consumers hold in JS (see `ChannelCore.holdInput`). */
  inputHeld = 0;
  /** A channel was refused input room because of the session's budget: wake them when it frees. */
  inputStarved = false;
  /**
   * Whether libssh owns the socket now, so that a changed `ssh_get_fd` means
   * it closed it (a client hands the socket over at `ssh_connect`).
   */
  protected socketHandedOver = true;
  /** What libssh may hold for the socket, counted as it is written. */
  protected readonly counters: OutputCounters;
  #depth = 0;
  #deferred: (() => void)[] = [];

  constructor(backend: Backend, handle: Pointer, fd: number) {
    this.backend = backend;
    this.handle = handle;
    this.fd = fd;
    this.counters = new OutputCounters(backend, handle);
  }

  /** Where errors thrown by callbacks go. */
  abstract onError: ErrorHandler;

  /** The connection is over: stop polling and wake everyone who waits on it. */
  abstract markDisconnected(): void;

  /** Recomputes what the reactor waits for on the session's socket. */
  abstract updateInterest(): void;

  /**
   * Runs a libssh call that may call back into JS. Frees requested inside
   * those callbacks (closing this session or its channels) wait until the
   * outermost call has returned.
   */
  call<T>(fn: () => T): T {
    this.#depth++;
    enterLibssh();
    try {
      return fn();
    } finally {
      leaveLibssh();
      if (--this.#depth === 0) {
        if (this.#deferred.length > 0) this.#runDeferred();
        this.#noticeSocketClosed();
      }
    }
  }

  /** Whether a libssh call (and so perhaps a callback of it) is running, for any session. */
  get inLibssh(): boolean {
    return inLibssh();
  }

  /**
   * libssh closes the socket itself when a read or write on it fails, also in
   * the middle of a channel write. The reactor's epoll set drops a closed
   * descriptor without a word (poll() used to report POLLNVAL), so the
   * session looks after each libssh call: once its socket is gone, it is
   * disconnected.
   */
  #noticeSocketClosed(): void {
    if (!this.socketHandedOver || this.disconnected || this.destroyed) return;
    if (this.backend.libssh.ssh_get_fd(this.handle) !== this.fd) this.markDisconnected();
  }

  /** Runs `fn` now, or right after the libssh call in progress returns. */
  defer(fn: () => void): void {
    if (this.#depth === 0) fn();
    else this.#deferred.push(fn);
  }

  #runDeferred(): void {
    const pending = this.#deferred;
    this.#deferred = [];
    for (const fn of pending) {
      try {
        fn();
      } catch (error) {
        this.onError(error, "deferred close");
      }
    }
  }

  /** libssh's last error text for this session. */
  errorText(): string {
    if (this.destroyed) return "";
    return this.backend.readCString(this.backend.libssh.ssh_get_error(this.handle)) ?? "";
  }

  /** Throws `SshError("libssh")` with libssh's text unless `rc` is `SSH_OK`: "`what` failed". */
  check(rc: number, what: string): void {
    if (rc !== SSH_OK) throw new SshError("libssh", `${what} failed`, { libsshMessage: this.errorText() });
  }

  /** Whether the connection ended, by libssh's status or a hang-up it did not notice. */
  protected connectionEnded(revents: number): boolean {
    const status = this.backend.libssh.ssh_get_status(this.handle);
    if (status & (SSH_CLOSED | SSH_CLOSED_ERROR)) return true;
    // A hang-up libssh did not notice would make every wait return at once, forever (level-triggered).
    return (revents & (POLLHUP | POLLERR | POLLNVAL)) !== 0 && (revents & POLLIN) === 0;
  }

  /** An upper bound of the bytes libssh holds for this session's socket (see `ffi/counters.ts`). */
  outputQueued(): number {
    if (this.destroyed) return 0;
    if ((this.backend.libssh.ssh_get_status(this.handle) & SSH_WRITE_PENDING) === 0) this.counters.drained();
    return this.counters.queued();
  }

  /** Whether writers wait: libssh holds the output high-water mark or more for the socket. */
  outputFull(): boolean {
    return this.outputQueued() >= this.limits.sessionOutputHighWaterMark;
  }

  /** Runs `write` (an `ssh_channel_write`) through `call`, counting what libssh may queue of it. */
  sendData(write: () => number): number {
    const payloadBefore = this.counters.payload();
    const written = this.call(write);
    if (written > 0) {
      this.counters.wrote(written, payloadBefore);
      this.noteActivity();
    }
    return written;
  }

  /** Traffic went out (a server's idle timeout counts from now). */
  noteActivity(): void {}

  /** A refusal at a limit that leaves the session up (a server tells its `onLimit`). */
  reportLimit(_limit: LimitName): void {}

  /** The session's input budget has room again: let channels it stopped take what libssh kept. */
  inputFreed(): void {
    if (this.inputHeld >= this.limits.sessionInputHighWaterMark) return;
    this.inputStarved = false;
    for (const channel of this.channels.values()) channel.onInputRoom?.();
  }
}
