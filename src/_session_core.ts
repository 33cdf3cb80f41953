/**
 * The core of a server session: its socket in the reactor, the key exchange,
 * the limits it enforces, its server callbacks struct and message callback.
 * Private: not exported from `mod.ts`; `Session` is its public face, and the
 * message dispatch (which builds `Message` objects) lives there.
 *
 * @module
 */

import type { Backend, Pointer } from "../ffi/backend.ts";
import { SSH_AGAIN, SSH_OK, SSH_WRITE_PENDING } from "../ffi/constants.ts";
import { POLLIN, POLLOUT } from "../ffi/platform.ts";
import { setCloseOnExec, setNonBlocking } from "../ffi/fd.ts";
import { bytesWaiting, setNoDelay, setQuickAck, type SocketAddress, socketAddress } from "../ffi/socket.ts";
import { type CallbackStruct, messageCallback, type MessageHandlers } from "../ffi/trampolines.ts";
import type { ServerCallbackField } from "../ffi/structs.ts";
import { type ErrorHandler, LibsshSession } from "./_libssh_session.ts";
import { AuthMethod, AuthStatus } from "./auth.ts";
import { closedError } from "./errors.ts";
import type { LimitName, ResolvedLimits } from "./limits.ts";
import { reactor, type Watch } from "./reactor.ts";
import type { Session } from "./session.ts";

/** The key under which a `Session` keeps its core: exported from this private module only. */
export const SESSION_CORE: unique symbol = Symbol("SessionCore");

/** A client that says nothing for this long while the key exchange waits for it idles (see `idlesBeforeLogin`). */
const QUIET_MS = 1000;

/** At most this many `ssh_event_dopoll` calls (4 KiB each) per wake-up of a session. */
const DOPOLL_BATCH = 64;

/** The event loop side of an `SessionEvent`, as the session sees it. */
export interface AttachedEvent {
  readonly handle: Pointer;
  /** Called after each dispatch with `ssh_event_dopoll`'s result. */
  dispatched(rc: number): void;
  /** The session is going away: forget it. */
  detach(): void;
}

/**
 * How a message that reached the message callback was answered; the `Message`
 * handed to the callback records its replies here, and is closed when
 * `open` turns false (libssh frees the message when the callback returns).
 */
export interface MessageAnswer {
  readonly handle: Pointer;
  open: boolean;
  /** A reply was sent. */
  replied: boolean;
  /** The reply was libssh's default (a refusal). */
  refused: boolean;
}

/** The default `onError`: one function for every session. */
function reportToConsole(error: unknown, context: string): void {
  console.error(`libssh session ${context}:`, error);
}

/** Where libssh's message callback reaches a session: one object per session, no closures. */
class SessionMessageTarget implements MessageHandlers {
  readonly #core: SessionCore;
  readonly handlers: MessageHandlers = this;

  constructor(core: SessionCore) {
    this.#core = core;
  }

  message(message: Pointer): number {
    return this.#core.onMessage?.(message) ?? 1;
  }

  onError(error: unknown): void {
    this.#core.onError(error, "message callback");
  }
}

/**
 * Everything a server session needs besides its public face: its place in
 * the reactor, the key exchange, the limits, the login state.
 */
export class SessionCore extends LibsshSession {
  /** The public face, handed to user callbacks. */
  readonly owner: Session;
  readonly peer: SocketAddress | null;
  /** Set once `close()` was called: the public API refuses further use. */
  closed = false;
  authenticated = false;
  user: string | undefined;
  authMethod: AuthMethod | undefined;
  kexDone = false;
  /** Failed authentication attempts so far. */
  authFailures = 0;
  /** `tcpip-forward` requests granted and not cancelled (capped by `ServerLimits`). */
  reverseForwards = 0;
  /** Since when the client owes us an answer (it connected, our banner left, its last bytes came). */
  #quietSince = Date.now();
  #kexStarted = false;
  event: AttachedEvent | undefined;
  /** Answers a message libssh hands over (the public layer's dispatch): 0 handled, 1 default reply. */
  onMessage: ((message: Pointer) => number) | undefined;
  onError: ErrorHandler = reportToConsole;
  /** The user keyboard-interactive prompts were sent to: libssh 0.10 leaves it out of the answers. */
  interactiveUser: string | undefined;

  #watch: Watch | undefined;
  /** libssh holds so much unread output that the client is not read either (see `updateInterest`). */
  #readingStopped = false;
  #kexWaiter: (() => void) | undefined;
  #serverStruct: CallbackStruct<ServerCallbackField> | undefined;
  #releaseServerCallbacks: (() => void) | undefined;
  readonly #message: { pointer: Pointer; userdata: Pointer; release(): void };
  readonly #disconnected: { promise: Promise<void>; resolve: () => void };
  #limits: { limits: ResolvedLimits; onExceeded: (limit: LimitName) => void } | undefined;
  #lastActivity = Date.now();
  #timers: ReturnType<typeof setTimeout>[] = [];
  #loginGrace: ReturnType<typeof setTimeout> | undefined;
  /** Called once the client logged in. */
  onAuthenticated: (() => void) | undefined;

  /** Takes over `handle`, a session `ssh_bind_accept_fd` filled in; `owner` is its public face. */
  constructor(backend: Backend, handle: Pointer, owner: Session) {
    super(backend, handle, backend.libssh.ssh_get_fd(handle));
    this.owner = owner;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => resolve = r);
    this.#disconnected = { promise, resolve };
    backend.libssh.ssh_set_blocking(handle, 0);
    setNonBlocking(backend, this.fd);
    setCloseOnExec(backend, this.fd);
    setNoDelay(backend, this.fd);
    this.peer = socketAddress(backend, this.fd, "peer");
    this.#message = messageCallback(backend, new SessionMessageTarget(this));
    backend.libssh.ssh_set_message_callback(handle, this.#message.pointer, this.#message.userdata);
    this.#watch = reactor.watch(this.fd, 0, (revents) => this.#onReady(revents));
  }

  get disconnectedPromise(): Promise<void> {
    return this.#disconnected.promise;
  }

  /** Throws `SshError("closed")` once `close()` was called. */
  live(): this {
    if (this.closed) throw closedError("Session");
    return this;
  }

  /** Recomputes what the reactor waits for on this session's socket. */
  override updateInterest(): void {
    if (!this.#watch || this.disconnected) return;
    if (!this.#kexWaiter && !this.event) {
      this.#watch.setEvents(0);
      return;
    }
    const flags = this.backend.libssh.ssh_get_poll_flags(this.handle);
    if ((flags & SSH_WRITE_PENDING) === 0) {
      this.counters.drained();
      this.#readingStopped = false;
      this.#watch.setEvents(POLLIN);
      return;
    }
    this.#watch.setEvents(this.#stopReading() ? POLLOUT : POLLIN | POLLOUT);
  }

  /**
   * Whether to stop reading the client: libssh holds twice the output
   * high-water mark for it. Writers stop at the mark, so only answers to the
   * client's own requests (global and channel requests, opens, window
   * adjusts) get there: a client that sends requests and never reads the
   * answers is not read either, until it does.
   */
  #stopReading(): boolean {
    const stop = this.counters.queued() >= 2 * this.limits.sessionOutputHighWaterMark;
    if (stop && !this.#readingStopped) this.#limits?.onExceeded("sessionOutputHighWaterMark");
    this.#readingStopped = stop;
    return stop;
  }

  /** Traffic went out: the idle timeout counts from now (incoming traffic counts in `#onReady`). */
  override noteActivity(): void {
    if (this.#limits?.limits.idleTimeout !== undefined) this.#lastActivity = Date.now();
  }

  /** The key exchange loop: `ssh_handle_key_exchange` until done, waiting for the socket in between. */
  async keyExchange(): Promise<boolean> {
    this.kexStarting();
    while (!this.kexDone) {
      if (this.disconnected) return false;
      const rc = this.call(() => this.backend.libssh.ssh_handle_key_exchange(this.handle));
      if (rc === SSH_OK) {
        this.kexDone = true;
        this.updateInterest();
      } else if (rc === SSH_AGAIN) {
        await this.waitForKex();
        if (this.closed) return false;
      } else {
        this.markDisconnected();
        return false;
      }
    }
    return true;
  }

  /** Whether a key exchange is running (waiting for the socket). */
  get exchangingKeys(): boolean {
    return this.#kexWaiter !== undefined;
  }

  /** Waits until the socket is ready for the key exchange to go on. */
  waitForKex(): Promise<void> {
    return new Promise((resolve) => {
      this.#kexWaiter = resolve;
      this.updateInterest();
    });
  }

  #onReady(revents: number): void {
    const waiter = this.#kexWaiter;
    if (waiter) {
      this.#kexWaiter = undefined;
      this.#watch?.setEvents(0);
      // As below: the key exchange is where OpenSSH clients wait on delayed ACKs.
      setQuickAck(this.backend, this.fd);
      if (revents & POLLIN) this.#heard();
      waiter();
      return;
    }
    const event = this.event;
    if (!event) {
      this.#watch?.setEvents(0);
      return;
    }
    if (!this.authenticated) {
      setQuickAck(this.backend, this.fd);
      if (revents & POLLIN) this.#heard();
    }
    if (this.#limits?.limits.idleTimeout !== undefined) this.#lastActivity = Date.now();
    const rc = this.call(() => this.#drain(event.handle));
    if (this.destroyed) return;
    event.dispatched(rc);
    if (this.connectionEnded(revents)) {
      this.markDisconnected();
      return;
    }
    if (this.channels.size > 0) {
      const outputFull = this.outputFull();
      for (const channel of this.channels.values()) channel.sessionProgressed(outputFull);
    }
    this.updateInterest();
  }

  /**
   * Runs `ssh_event_dopoll(event, 0)` until the socket has nothing more (or a
   * batch limit, so other sessions get their turn). libssh reads at most 4 KiB
   * per call: one call per wake-up of the reactor would cost a wait round
   * trip through the worker thread for every 4 KiB of a bulk transfer.
   */
  #drain(event: Pointer): number {
    const { libssh } = this.backend;
    const first = libssh.ssh_event_dopoll(event, 0);
    if (first !== SSH_OK) return first;
    // While reading is stopped, each readiness flushes output and reads one piece at most.
    const batch = this.#readingStopped ? 1 : DOPOLL_BATCH;
    for (let i = 1; i < batch && !this.closed && this.event?.handle === event; i++) {
      const rc = libssh.ssh_event_dopoll(event, 0);
      if (rc === SSH_AGAIN) break; // drained
      if (rc !== SSH_OK) return rc;
    }
    return SSH_OK;
  }

  /** The connection is over: stop polling and wake everyone who waits on it. */
  override markDisconnected(): void {
    if (this.disconnected) return;
    this.disconnected = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers = [];
    clearTimeout(this.#loginGrace);
    this.#watch?.close();
    this.#watch = undefined;
    const waiter = this.#kexWaiter;
    this.#kexWaiter = undefined;
    waiter?.();
    this.event?.dispatched(-1);
    for (const channel of this.channels.values()) channel.sessionGone();
    this.#disconnected.resolve();
  }

  /**
   * Installs a server callbacks struct (replacing the previous one), with
   * `release` to run when it is dropped (it stops observing the user's set).
   */
  installServerCallbacks(struct: CallbackStruct<ServerCallbackField>, release: () => void): void {
    try {
      this.check(
        this.backend.libssh.ssh_set_server_callbacks(this.handle, struct.pointer),
        "setting the server callbacks",
      );
    } catch (error) {
      release();
      struct.release();
      throw error;
    }
    this.#releaseServerCallbacks?.();
    // The previous struct stays allocated until the session is freed: libssh may be iterating it.
    const previous = this.#serverStruct;
    this.#serverStruct = struct;
    if (previous) this.defer(() => previous.release());
    this.#releaseServerCallbacks = release;
  }

  /** Hears how an auth callback answered. */
  authAnswered(status: number, user: string, method: AuthMethod): void {
    if (status === AuthStatus.Success) {
      if (this.authenticated) return;
      this.authenticated = true;
      clearTimeout(this.#loginGrace);
      this.#loginGrace = undefined;
      this.user = user;
      this.authMethod = method;
      this.onAuthenticated?.();
    } else if (status === AuthStatus.Denied && method !== AuthMethod.None) {
      this.authFailed();
    }
  }

  /** An auth attempt failed: counts it against `maxAuthAttempts`. */
  authFailed(): void {
    this.authFailures++;
    const limits = this.#limits;
    if (limits && this.authFailures >= limits.limits.maxAuthAttempts) this.#exceeded("maxAuthAttempts");
  }

  /**
   * Enforces `limits` on this session (see `ServerLimits`): the login grace
   * time and idle timeout start now; `onExceeded` hears of each breach.
   */
  applyLimits(limits: ResolvedLimits, onExceeded: (limit: LimitName) => void): void {
    this.#limits = { limits, onExceeded };
    this.limits = limits;
    // Cleared at login: an idle session holds no timer (unless it has an idle timeout).
    this.#loginGrace = setTimeout(() => {
      if (!this.authenticated) this.#exceeded("loginGraceTime");
    }, limits.loginGraceTime);
    if (limits.idleTimeout !== undefined) this.#armIdleTimer(limits.idleTimeout);
  }

  /** One timer per session, re-armed for the remaining time when traffic came meanwhile. */
  #armIdleTimer(idle: number): void {
    const timer = setTimeout(() => {
      this.#timers = this.#timers.filter((t) => t !== timer);
      if (this.disconnected) return;
      const quiet = Date.now() - this.#lastActivity;
      if (quiet >= idle) this.#exceeded("idleTimeout");
      else this.#armIdleTimer(idle - quiet);
    }, idle);
    this.#timers.push(timer);
  }

  #heard(): void {
    this.#quietSince = Date.now();
  }

  /** The key exchange starts: our banner leaves, the client's answer is due from now. */
  kexStarting(): void {
    if (this.#kexStarted) return;
    this.#kexStarted = true;
    this.#quietSince = Date.now();
  }

  /**
   * Whether a connection that is not logged in idles, which makes it the
   * first to make room (see `ServerLimits.maxUnauthenticated`): no byte came
   * from the client for `QUIET_MS` (not even unread ones) while the key
   * exchange, whose client side is automatic, waited for it. One that
   * authenticates never idles: a person may be typing.
   */
  idlesBeforeLogin(now: number): boolean {
    if (this.kexDone) return false;
    if (now - this.#quietSince < QUIET_MS) return false;
    if (bytesWaiting(this.backend, this.fd) > 0) {
      this.#heard();
      return false;
    }
    return true;
  }

  /** Tells `onLimit` of a refusal that leaves the session up. */
  override reportLimit(limit: LimitName): void {
    this.#limits?.onExceeded(limit);
  }

  /** Whether another channel may open (reports the refusal when not). */
  mayOpenChannel(): boolean {
    const limits = this.#limits;
    if (!limits || this.channels.size < limits.limits.maxChannelsPerSession) return true;
    limits.onExceeded("maxChannelsPerSession");
    return false;
  }

  #exceeded(limit: LimitName): void {
    if (this.closed) return;
    try {
      this.#limits?.onExceeded(limit);
    } finally {
      this.close();
    }
  }

  /** Records a successful login made by a message reply. */
  authenticatedBy(user: string, method: AuthMethod): void {
    this.authAnswered(AuthStatus.Success, user, method);
  }

  /** Closes the session: refuses further use now, frees it once no libssh call runs. Idempotent. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.defer(() => this.destroy());
    }
    return this.#disconnected.promise;
  }

  /** Frees everything; runs outside libssh calls (see `defer`). */
  destroy(): void {
    if (this.destroyed) return;
    this.markDisconnected();
    this.destroyed = true;
    this.event?.detach();
    this.event = undefined;
    for (const channel of this.channels.values()) channel.sessionFreed();
    this.channels.clear();
    const { libssh } = this.backend;
    libssh.ssh_disconnect(this.handle);
    libssh.ssh_free(this.handle);
    this.#releaseServerCallbacks?.();
    this.#serverStruct?.release();
    this.#message.release();
  }
}

/** The key exchange loop: `ssh_handle_key_exchange` until done, waiting for the socket in between. */
