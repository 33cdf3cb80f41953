/**
 * The internals of a client session: the native session, its socket in the
 * reactor, the `ssh_event` that processes its packets once connected, and the
 * waits of the operations libssh answers with `SSH_AGAIN`.
 *
 * Every libssh call runs on the JS thread in non-blocking mode. An operation
 * that libssh cannot finish at once (connect, an auth step, a channel open, a
 * request) is called again after each round of packets: libssh keeps its
 * state between the calls. The one call that blocks whatever the mode
 * (`ssh_userauth_agent`) runs on a worker thread through `onWorkerThread`,
 * while nothing else touches the session.
 *
 * @module
 */

import type { Backend, Pointer } from "../../ffi/backend.ts";
import { SSH_AGAIN, SSH_CLOSED, SSH_CLOSED_ERROR, SSH_OK, SSH_WRITE_PENDING } from "../../ffi/constants.ts";
import { OutputCounters } from "../../ffi/counters.ts";
import { closeFd } from "../../ffi/fd.ts";
import { POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT } from "../../ffi/platform.ts";
import { messageCallback } from "../../ffi/trampolines.ts";
import type { ChannelHost, ChannelOwner } from "../channel.ts";
import { closedError, SshError } from "../errors.ts";
import { enterLibssh, inLibssh, leaveLibssh } from "../libssh_calls.ts";
import { type LimitName, type ResolvedLimits, resolveLimits } from "../limits.ts";
import { Mutex } from "../mutex.ts";
import { reactor, type Watch } from "../reactor.ts";
import { inTurn } from "./turns.ts";

/** At most this many `ssh_event_dopoll` calls (4 KiB each) per wake-up, as on the server side. */
const DOPOLL_BATCH = 64;
/**
 * The channel bounds a client session applies: the server's defaults (its
 * output high-water mark: what writers let libssh hold for the socket).
 */
const CLIENT_LIMITS = resolveLimits();

/** What the core tells each channel of its session (kept apart from the channel's public methods). */
export interface ChannelLink {
  /** The session processed packets: a write may go on (unless libssh holds too much output), a request may be answered. */
  progressed(outputFull: boolean): void;
  /** The connection ended. */
  gone(): void;
  /** The session freed the native channel along with itself. */
  freed(): void;
}

/** Answers a message (a channel open from the server) inside the message callback: 0 handled, 1 default reply. */
export type MessageHandler = (message: Pointer) => number;

/** The client session's internals (not part of the public API). */
export class ClientCore implements ChannelHost {
  readonly backend: Backend;
  readonly handle: Pointer;
  readonly channels: Map<bigint, ChannelOwner> = new Map();
  /** The socket libssh reads (ours: closed after the session is freed, unless the caller owns it). */
  readonly fd: number;
  readonly #ownsFd: boolean;
  /** `close()` was called. */
  closed = false;
  /** The connection ended. */
  disconnected = false;
  /** Why the connection ended, when we know better than libssh (keepalive timeout). */
  endedBy: SshError | undefined;
  authenticated = false;
  /** When data last arrived from the server (ms since the epoch). */
  lastReceived: number = Date.now();
  /** Serializes the global requests, which share one slot in libssh (keepalive, tcpip-forward). */
  readonly globalRequests: Mutex = new Mutex();
  /** A keepalive may hold libssh's global-request slot: drain it before the next request (see keepalive.ts). */
  keepaliveSent = false;
  /** Handles channel opens from the server once logged in (forwarded-tcpip). */
  onMessage: MessageHandler | undefined;
  onError: (error: unknown, context: string) => void = (error, context) =>
    console.error(`libssh client ${context}:`, error);
  readonly limits: ResolvedLimits = CLIENT_LIMITS;
  /** Input held by consumers of `ChannelCore`'s own readers (the client's streams bound themselves). */
  inputHeld = 0;
  inputStarved = false;
  readonly #counters: OutputCounters;

  #depth = 0;
  /** `#onReady` runs: what libssh reads then is its round of packets. */
  #inRound = false;
  /** The socket's byte count when reads were last accounted for (see `#noticeReads`). */
  #seenReceived = 0;
  #deferred: (() => void)[] = [];
  #watch: Watch | undefined;
  #event: Pointer = null;
  #waiters: (() => void)[] = [];
  readonly #links = new Set<ChannelLink>();
  /** ssh_connect was called: libssh uses the socket now and says whether it still has it. */
  #handedOver = false;
  /** A worker thread is inside libssh for this session: the JS thread must not touch it. */
  #workerBusy = false;
  #destroyed = false;
  #destroyWhenIdle = false;
  #message: { pointer: Pointer; userdata: Pointer; release(): void } | undefined;
  readonly #ended: { promise: Promise<void>; resolve: () => void };
  readonly #endHooks: (() => void)[] = [];

  constructor(backend: Backend, handle: Pointer, fd: number, ownsFd: boolean) {
    this.backend = backend;
    this.handle = handle;
    this.fd = fd;
    this.#ownsFd = ownsFd;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => resolve = r);
    this.#ended = { promise, resolve };
    this.#counters = new OutputCounters(backend, handle);
    this.#watch = reactor.watch(fd, 0, (revents) => this.#onReady(revents));
  }

  /** Resolves once the connection ended (server gone, error, timeout or `close()`). */
  get ended(): Promise<void> {
    return this.#ended.promise;
  }

  /** Throws `closed` after `close()`, else `disconnected` once the connection ended. */
  assertConnected(): void {
    if (this.closed) throw closedError("ClientSession");
    if (this.disconnected) throw this.disconnectedError();
  }

  /** The error of an operation the end of the connection interrupted. */
  disconnectedError(): SshError {
    if (this.closed) return closedError("ClientSession");
    if (this.endedBy) return this.endedBy;
    const text = this.errorText();
    return new SshError("disconnected", "the connection to the server ended", { libsshMessage: text });
  }

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
        this.#noticeReads();
      }
    }
  }

  /**
   * libssh read packets inside another call than the reactor's round (a
   * channel close flushes, an open or a read processes what came in): they
   * may answer an operation that waits, and the socket has nothing left to
   * wake the reactor with. So the operations waiting before that call retry,
   * as after a round (the caller's own, which waits after it, does not).
   * Checked after each call through `call`, and in `updateInterest`, which
   * every path runs after its libssh calls.
   */
  #noticeReads(): void {
    if (this.#inRound || this.#destroyed) return;
    const received = this.#counters.received();
    if (received === this.#seenReceived) return;
    this.#seenReceived = received;
    const waiters = this.#waiters;
    this.#waiters = [];
    queueMicrotask(() => {
      if (!this.#destroyed && !this.disconnected) {
        const outputFull = this.outputFull();
        for (const link of this.#links) link.progressed(outputFull);
      }
      for (const wake of waiters) wake();
      this.updateInterest();
    });
  }

  /**
   * libssh closes the socket itself when a read or write on it fails; the
   * reactor's epoll set drops a closed descriptor without a word. So after
   * each libssh call: once the socket is gone, the session is disconnected.
   */
  #noticeSocketClosed(): void {
    if (!this.#handedOver || this.disconnected || this.#destroyed) return;
    if (this.backend.libssh.ssh_get_fd(this.handle) !== this.fd) this.markDisconnected();
  }

  get inLibssh(): boolean {
    return inLibssh();
  }

  /** Whether writers wait: libssh holds the output high-water mark or more for the socket. */
  outputFull(): boolean {
    if (this.#destroyed) return false;
    if ((this.backend.libssh.ssh_get_status(this.handle) & SSH_WRITE_PENDING) === 0) this.#counters.drained();
    return this.#counters.queued() >= this.limits.sessionOutputHighWaterMark;
  }

  sendData(write: () => number): number {
    const payloadBefore = this.#counters.payload();
    const written = this.call(write);
    if (written > 0) this.#counters.wrote(written, payloadBefore);
    return written;
  }

  /** Outgoing traffic: the keepalive counts only what comes from the server. */
  noteActivity(): void {}

  /** The channel limits a client reaches are its own requests' (env): nothing to report to. */
  reportLimit(_limit: LimitName): void {}

  inputFreed(): void {}

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

  errorText(): string {
    if (this.#destroyed || this.#workerBusy) return "";
    return this.backend.readCString(this.backend.libssh.ssh_get_error(this.handle)) ?? "";
  }

  /** Registers a channel to hear of rounds of packets and of the end of the session. */
  link(link: ChannelLink): () => void {
    this.#links.add(link);
    return () => this.#links.delete(link);
  }

  /** Runs `hook` once when the connection ends (keepalive timers, forward listeners). */
  onEnd(hook: () => void): void {
    if (this.disconnected) hook();
    else this.#endHooks.push(hook);
  }

  updateInterest(): void {
    this.#noticeReads();
    const watch = this.#watch;
    if (!watch || this.disconnected) return;
    if (this.#workerBusy || (this.#event === null && this.#waiters.length === 0)) {
      watch.setEvents(0);
      return;
    }
    const status = this.backend.libssh.ssh_get_status(this.handle);
    if ((status & SSH_WRITE_PENDING) === 0) this.#counters.drained();
    watch.setEvents(POLLIN | ((status & SSH_WRITE_PENDING) ? POLLOUT : 0));
  }

  /**
   * Resolves after the next round of packets, or rejects when the session
   * ended or `signal` aborted. Callers then call libssh again.
   */
  nextRound(signal?: AbortSignal): Promise<void> {
    if (this.closed || this.disconnected) return Promise.reject(this.disconnectedError());
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        this.updateInterest();
        reject(signal!.reason);
      };
      const waiter = (): void => {
        signal?.removeEventListener("abort", onAbort);
        if (this.closed || this.disconnected) reject(this.disconnectedError());
        else resolve();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
      this.updateInterest();
    });
  }

  /**
   * Calls `fn` (a libssh call) until it returns something else than `again`,
   * waiting for a round of packets in between; returns that result.
   */
  async untilDone(fn: () => number, again: number = SSH_AGAIN, signal?: AbortSignal): Promise<number> {
    const attempt = (): number => {
      this.assertConnected();
      if (signal?.aborted) throw signal.reason;
      const rc = this.call(fn);
      this.updateInterest();
      return rc;
    };
    for (let rc = attempt();; rc = await inTurn(attempt)) {
      if (rc !== again) return rc;
      await this.nextRound(signal);
    }
  }

  /**
   * Runs a call that libssh makes blocking whatever the mode, on a worker
   * thread. Until it returns, the reactor leaves the socket alone and a
   * `close()` waits (libssh allows one thread at a time in a session).
   */
  async onWorkerThread<T>(fn: () => Promise<T>): Promise<T> {
    this.assertConnected();
    if (this.#workerBusy) {
      throw new SshError("libssh", "another call of this session runs on a worker thread");
    }
    this.#workerBusy = true;
    this.updateInterest();
    try {
      return await fn();
    } finally {
      this.#workerBusy = false;
      if (this.#destroyWhenIdle) this.destroy();
      else this.updateInterest();
    }
  }

  /** `ssh_connect` is about to run: from now on libssh holds the socket. */
  handOver(): void {
    this.#handedOver = true;
  }

  /** Starts processing packets with an `ssh_event` of this session alone (after `ssh_connect`). */
  attachEvent(): void {
    const { libssh } = this.backend;
    const event = libssh.ssh_event_new();
    if (event === null) throw new SshError("libssh", "creating the event failed");
    if (libssh.ssh_event_add_session(event, this.handle) !== SSH_OK) {
      libssh.ssh_event_free(event);
      throw new SshError("libssh", "adding the session to the event failed", {
        libsshMessage: this.errorText(),
      });
    }
    this.#event = event;
    this.updateInterest();
  }

  /**
   * Installs the message callback, which hands channel opens from the server
   * to `onMessage`. Only once logged in: before, a worker thread may be inside
   * libssh (agent auth), and libssh would call JS from that thread.
   */
  installMessageCallback(): void {
    if (this.#message) return;
    this.#message = messageCallback(this.backend, {
      handlers: { message: (_s, message) => this.onMessage?.(message) ?? 1 },
      onError: (error) => this.onError(error, "message callback"),
    });
    this.backend.libssh.ssh_set_message_callback(this.handle, this.#message.pointer, this.#message.userdata);
  }

  #onReady(revents: number): void {
    if (this.#workerBusy) {
      this.#watch?.setEvents(0);
      return;
    }
    if (revents & POLLIN) this.lastReceived = Date.now();
    let ended = false;
    const event = this.#event;
    if (event !== null) {
      this.#inRound = true;
      try {
        this.call(() => this.#drain(event));
      } finally {
        this.#inRound = false;
        this.#seenReceived = this.#counters.received();
      }
      if (this.#destroyed) return;
      ended = this.#connectionEnded(revents);
    }
    this.#progressed();
    if (ended) this.markDisconnected();
    else this.updateInterest();
  }

  /** After a round of packets: channels may go on, waiters retry. */
  #progressed(): void {
    const outputFull = this.outputFull();
    for (const link of this.#links) link.progressed(outputFull);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** `ssh_event_dopoll(event, 0)` until the socket has nothing more, or a batch limit. */
  #drain(event: Pointer): void {
    const { libssh } = this.backend;
    for (let i = 0; i < DOPOLL_BATCH && this.#event === event; i++) {
      const rc = libssh.ssh_event_dopoll(event, 0);
      if (rc !== SSH_OK) return;
    }
  }

  #connectionEnded(revents: number): boolean {
    const status = this.backend.libssh.ssh_get_status(this.handle);
    if (status & (SSH_CLOSED | SSH_CLOSED_ERROR)) return true;
    // A hang-up libssh did not notice would make the wait return at once forever.
    return (revents & (POLLHUP | POLLERR | POLLNVAL)) !== 0 && (revents & POLLIN) === 0;
  }

  /** The connection is over: stop waiting on the socket and wake everyone who waits on it. */
  markDisconnected(reason?: SshError): void {
    if (this.disconnected) return;
    this.endedBy ??= reason;
    this.disconnected = true;
    this.#watch?.close();
    this.#watch = undefined;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
    for (const link of this.#links) link.gone();
    for (const hook of this.#endHooks.splice(0)) {
      try {
        hook();
      } catch (error) {
        this.onError(error, "end of session");
      }
    }
    this.#ended.resolve();
  }

  /** Disconnects and frees everything; outside libssh calls (see `defer`), and after a worker-thread call. */
  destroy(): void {
    if (this.#destroyed) return;
    this.markDisconnected();
    if (this.#workerBusy) {
      this.#destroyWhenIdle = true;
      return;
    }
    this.#destroyed = true;
    for (const link of this.#links) link.freed();
    this.#links.clear();
    this.channels.clear();
    const { libssh } = this.backend;
    if (this.#event !== null) {
      libssh.ssh_event_remove_session(this.#event, this.handle);
      libssh.ssh_event_free(this.#event);
      this.#event = null;
    }
    // libssh closes the socket itself after some errors; then the number may already be someone else's.
    const stillOpen = !this.#handedOver || libssh.ssh_get_fd(this.handle) === this.fd;
    libssh.ssh_disconnect(this.handle);
    libssh.ssh_free(this.handle);
    this.#message?.release();
    if (this.#ownsFd && stillOpen) closeFd(this.backend, this.fd);
  }
}
