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
import { SSH_AGAIN, SSH_OK, SSH_WRITE_PENDING } from "../../ffi/constants.ts";
import { closeFd } from "../../ffi/fd.ts";
import { POLLIN, POLLOUT } from "../../ffi/platform.ts";
import { messageCallback } from "../../ffi/trampolines.ts";
import { LibsshSession } from "../_libssh_session.ts";
import { closedError, SshError } from "../errors.ts";
import { Mutex } from "../mutex.ts";
import { reactor, type Watch } from "../reactor.ts";
import { inTurn } from "./turns.ts";

/** At most this many `ssh_event_dopoll` calls (4 KiB each) per wake-up, as on the server side. */
const DOPOLL_BATCH = 64;

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

/**
 * The client session's internals (not part of the public API). Its channel
 * bounds are the server's defaults (the output high-water mark: what writers
 * let libssh hold for the socket). The socket libssh reads is ours, closed
 * after the session is freed, unless the caller owns it.
 */
export class ClientCore extends LibsshSession {
  readonly #ownsFd: boolean;
  /** `close()` was called. */
  closed = false;
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
  #watch: Watch | undefined;
  #event: Pointer = null;
  /** `#onReady` runs: what libssh reads then is its round of packets. */
  #inRound = false;
  /** The socket's byte count when reads were last accounted for (see `#noticeReads`). */
  #seenReceived = 0;
  #waiters: (() => void)[] = [];
  readonly #links = new Set<ChannelLink>();
  /** A worker thread is inside libssh for this session: the JS thread must not touch it. */
  #workerBusy = false;
  #destroyWhenIdle = false;
  #message: { pointer: Pointer; userdata: Pointer; release(): void } | undefined;
  readonly #ended: { promise: Promise<void>; resolve: () => void };
  readonly #endHooks: (() => void)[] = [];

  constructor(backend: Backend, handle: Pointer, fd: number, ownsFd: boolean) {
    super(backend, handle, fd);
    // Until ssh_connect, libssh does not use the socket.
    this.socketHandedOver = false;
    this.#ownsFd = ownsFd;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => resolve = r);
    this.#ended = { promise, resolve };
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

  override errorText(): string {
    return this.#workerBusy ? "" : super.errorText();
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

  override call<T>(fn: () => T): T {
    try {
      return super.call(fn);
    } finally {
      if (!this.inLibssh) this.#noticeReads();
    }
  }

  /**
   * libssh read packets inside another call than the reactor's round (a
   * channel close flushes, an open or a read processes what came in): they
   * may answer an operation that waits, and the socket has nothing left to
   * wake the reactor with. So the operations waiting before that call retry,
   * as after a round (the caller's own, which waits after it, does not).
   * Checked after each outermost `call`, and in `updateInterest`, which every
   * path runs after its libssh calls.
   */
  #noticeReads(): void {
    if (this.#inRound || this.destroyed) return;
    const received = this.counters.received();
    if (received === this.#seenReceived) return;
    this.#seenReceived = received;
    const waiters = this.#waiters;
    this.#waiters = [];
    queueMicrotask(() => {
      if (!this.destroyed && !this.disconnected) {
        const outputFull = this.outputFull();
        for (const link of this.#links) link.progressed(outputFull);
      }
      for (const wake of waiters) wake();
      this.updateInterest();
    });
  }

  override updateInterest(): void {
    this.#noticeReads();
    const watch = this.#watch;
    if (!watch || this.disconnected) return;
    if (this.#workerBusy || (this.#event === null && this.#waiters.length === 0)) {
      watch.setEvents(0);
      return;
    }
    // Not ssh_get_poll_flags: libssh flags POLLOUT after every write, even a complete one, which woke the
    // reactor once more after each packet sent. SSH_WRITE_PENDING here is its output buffer's length.
    const status = this.backend.libssh.ssh_get_status(this.handle);
    if ((status & SSH_WRITE_PENDING) === 0) this.counters.drained();
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
    this.socketHandedOver = true;
  }

  /** Starts processing packets with an `ssh_event` of this session alone (after `ssh_connect`). */
  attachEvent(): void {
    const { libssh } = this.backend;
    const event = libssh.ssh_event_new();
    if (event === null) throw new SshError("libssh", "creating the event failed");
    const rc = libssh.ssh_event_add_session(event, this.handle);
    if (rc !== SSH_OK) libssh.ssh_event_free(event);
    this.check(rc, "adding the session to the event");
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
      handlers: { message: (message) => this.onMessage?.(message) ?? 1 },
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
        this.#seenReceived = this.counters.received();
      }
      if (this.destroyed) return;
      ended = this.connectionEnded(revents);
    }
    const outputFull = this.outputFull();
    for (const link of this.#links) link.progressed(outputFull);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
    if (ended) this.markDisconnected();
    else this.updateInterest();
  }

  /** `ssh_event_dopoll(event, 0)` until the socket has nothing more, or a batch limit. */
  #drain(event: Pointer): void {
    const { libssh } = this.backend;
    for (let i = 0; i < DOPOLL_BATCH && this.#event === event; i++) {
      const rc = libssh.ssh_event_dopoll(event, 0);
      if (rc !== SSH_OK) return;
    }
  }

  /** The connection is over: stop waiting on the socket and wake everyone who waits on it. */
  override markDisconnected(reason?: SshError): void {
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
    if (this.destroyed) return;
    this.markDisconnected();
    if (this.#workerBusy) {
      this.#destroyWhenIdle = true;
      return;
    }
    this.destroyed = true;
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
    const stillOpen = !this.socketHandedOver || libssh.ssh_get_fd(this.handle) === this.fd;
    libssh.ssh_disconnect(this.handle);
    libssh.ssh_free(this.handle);
    this.#message?.release();
    if (this.#ownsFd && stillOpen) closeFd(this.backend, this.fd);
  }
}
