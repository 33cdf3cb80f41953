/**
 * A server-side SSH session: one client connection.
 *
 * @module
 */

import type { Backend, Pointer } from "../ffi/backend.ts";
import { SSH_AGAIN, SSH_CLOSED, SSH_CLOSED_ERROR, SSH_OK, SSH_WRITE_PENDING } from "../ffi/constants.ts";
import { native } from "./_native.ts";
import { POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT } from "../ffi/platform.ts";
import { setCloseOnExec, setNonBlocking } from "../ffi/fd.ts";
import { bytesWaiting, setNoDelay, setQuickAck, type SocketAddress, socketAddress } from "../ffi/socket.ts";
import { OutputCounters } from "../ffi/counters.ts";
import {
  type CallbackStruct,
  messageCallback,
  type MessageHandlers,
  serverCallbackStruct,
  type ServerHandlers,
} from "../ffi/trampolines.ts";
import type { ServerCallbackField } from "../ffi/structs.ts";
import { AuthMethod, authMethodMask, AuthStatus, isAuthReply, type PublicKeyState } from "./auth.ts";
import type { ServerCallbackName, ServerCallbacks } from "./callbacks.ts";
import { channelCore, envBytes, type SshChannel } from "./channel.ts";
import { closedError, SshError } from "./errors.ts";
import { keyFromHandle } from "./key.ts";
import {
  ChannelRequestType,
  GlobalRequestType,
  Message,
  type MessageCallback,
  RequestType,
} from "./message.ts";
import { type LimitName, type ResolvedLimits, resolveLimits } from "./limits.ts";
import { enterLibssh, inLibssh, leaveLibssh } from "./libssh_calls.ts";
import { reactor, type Watch } from "./reactor.ts";

/** Where callback errors go: the error, and which callback threw. */
export type ErrorHandler = (error: unknown, context: string) => void;

const SERVER_FIELDS: Record<ServerCallbackName, ServerCallbackField> = {
  onAuthPassword: "authPassword",
  onAuthNone: "authNone",
  onAuthGssapiMic: "authGssapiMic",
  onAuthPubkey: "authPubkey",
  onServiceRequest: "serviceRequest",
  onChannelOpenRequestSession: "channelOpenRequestSession",
};

const cores = new Map<bigint, SessionCore>();
const DEFAULT_RESOLVED_LIMITS = resolveLimits();

/** A client that says nothing for this long while the key exchange waits for it idles (see `startupStage`). */
const QUIET_MS = 1000;

/** At most this many `ssh_event_dopoll` calls (4 KiB each) per wake-up of a session. */
const DOPOLL_BATCH = 64;

/** The session whose native handle is `handle`, if it is ours and open. */
export function coreForHandle(backend: Backend, handle: Pointer): SessionCore | undefined {
  return cores.get(backend.address(handle));
}

/** The event loop side of an `SessionEvent`, as the session sees it. */
export interface AttachedEvent {
  readonly handle: Pointer;
  /** Called after each dispatch with `ssh_event_dopoll`'s result. */
  dispatched(rc: number): void;
  /** The session is going away: forget it. */
  detach(): void;
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

  message(_s: Pointer, message: Pointer): number {
    return this.#core.answerMessage(message);
  }

  onError(error: unknown): void {
    this.#core.onError(error, "message callback");
  }
}

/** An auth callback's answer, checked: a wrong one denies (and is reported). */
function authReply(status: unknown, name: string): number {
  if (!isAuthReply(status)) {
    throw new TypeError(
      `${name} must return AuthStatus.Success, .Denied or .Partial synchronously, not ${status}`,
    );
  }
  return status;
}

/** A session's server callbacks as libssh calls them: methods of one object, not closures per session. */
class SessionServerHandlers implements ServerHandlers {
  readonly #core: SessionCore;
  readonly #callbacks: ServerCallbacks;
  readonly handlers: ServerHandlers = this;

  constructor(core: SessionCore, callbacks: ServerCallbacks) {
    this.#core = core;
    this.#callbacks = callbacks;
  }

  onError(error: unknown, name: string): void {
    this.#core.onError(error, name);
  }

  authPassword(_s: Pointer, user: string, password: string): number {
    const callbacks = this.#callbacks;
    const status = authReply(
      callbacks.onAuthPassword!(this.#core.session, user, password, callbacks.userdata),
      "onAuthPassword",
    );
    this.#core.authAnswered(status, user, AuthMethod.Password);
    return status;
  }

  authNone(_s: Pointer, user: string): number {
    const callbacks = this.#callbacks;
    const status = authReply(
      callbacks.onAuthNone!(this.#core.session, user, callbacks.userdata),
      "onAuthNone",
    );
    this.#core.authAnswered(status, user, AuthMethod.None);
    return status;
  }

  authGssapiMic(_s: Pointer, user: string, principal: string): number {
    const callbacks = this.#callbacks;
    const status = authReply(
      callbacks.onAuthGssapiMic!(this.#core.session, user, principal, callbacks.userdata),
      "onAuthGssapiMic",
    );
    this.#core.authAnswered(status, user, AuthMethod.GssapiMic);
    return status;
  }

  authPubkey(_s: Pointer, user: string, keyHandle: Pointer, state: number): number {
    const core = this.#core;
    const callbacks = this.#callbacks;
    const key = keyFromHandle(core.backend.libssh.ssh_key_dup(keyHandle));
    const status = authReply(
      callbacks.onAuthPubkey!(core.session, user, key, state as PublicKeyState, callbacks.userdata),
      "onAuthPubkey",
    );
    // libssh itself only logs in with a verified signature; state None only asks.
    if (state === 1) core.authAnswered(status, user, AuthMethod.PublicKey);
    return status;
  }

  serviceRequest(_s: Pointer, service: string): number {
    const callbacks = this.#callbacks;
    const allowed = callbacks.onServiceRequest!(this.#core.session, service, callbacks.userdata);
    if (typeof allowed !== "boolean") throw new TypeError("onServiceRequest must return a boolean");
    return allowed ? 0 : -1;
  }

  channelOpenRequestSession(): Pointer {
    const core = this.#core;
    if (!core.mayOpenChannel()) return null;
    const channel = this.#callbacks.onChannelOpenRequestSession!(core.session, this.#callbacks.userdata);
    if (channel === null || channel === undefined) return null;
    const channelOwner = channelCore(channel);
    if (channelOwner.session !== core) throw new TypeError("the channel belongs to another session");
    return channelOwner.live().handle;
  }
}

/**
 * Everything the library needs of a session besides its public face: the
 * native handle, the re-entrancy guard, its channels and its place in the
 * reactor. Not exported from `mod.ts`.
 */
export class SessionCore {
  readonly backend: Backend;
  readonly handle: Pointer;
  readonly address: bigint;
  readonly session: Session;
  readonly channels: Map<bigint, SshChannel> = new Map();
  readonly peer: SocketAddress | null;
  /** Set once `close()` was called: the public API refuses further use. */
  closed = false;
  /** Set once the connection ended (peer gone, error, or closed). */
  disconnected = false;
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
  messageHandler: { callback: MessageCallback<unknown>; userdata: unknown } | undefined;
  onError: ErrorHandler = reportToConsole;

  #depth = 0;
  #deferred: (() => void)[] = [];
  #watch: Watch | undefined;
  readonly #fd: number;
  readonly #counters: OutputCounters;
  /** libssh holds so much unread output that the client is not read either (see `updateInterest`). */
  #readingStopped = false;
  #kexWaiter: (() => void) | undefined;
  #serverStruct: CallbackStruct<ServerCallbackField> | undefined;
  #unobserve: (() => void) | undefined;
  readonly #message: { pointer: Pointer; userdata: Pointer; release(): void };
  readonly #disconnected: { promise: Promise<void>; resolve: () => void };
  #destroyed = false;
  #limits: { limits: ResolvedLimits; onExceeded: (limit: LimitName) => void } | undefined;
  #lastActivity = Date.now();
  #timers: ReturnType<typeof setTimeout>[] = [];
  #loginGrace: ReturnType<typeof setTimeout> | undefined;
  /** Called once the client logged in. */
  onAuthenticated: (() => void) | undefined;
  /** The limits in force (the defaults unless `listen()` applied others). */
  limits: ResolvedLimits = DEFAULT_RESOLVED_LIMITS;
  /** Bytes of channel input this session's consumers hold in JS (see `ChannelCore.holdInput`). */
  inputHeld = 0;
  /** A channel was refused input room because of the session's budget: wake them when it frees. */
  inputStarved = false;

  constructor(backend: Backend, handle: Pointer, session: Session) {
    this.backend = backend;
    this.handle = handle;
    this.address = backend.address(handle);
    this.session = session;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => resolve = r);
    this.#disconnected = { promise, resolve };
    backend.libssh.ssh_set_blocking(handle, 0);
    this.#counters = new OutputCounters(backend, handle);
    this.#fd = backend.libssh.ssh_get_fd(handle);
    setNonBlocking(backend, this.#fd);
    setCloseOnExec(backend, this.#fd);
    setNoDelay(backend, this.#fd);
    this.peer = socketAddress(backend, this.#fd, "peer");
    this.#message = messageCallback(backend, new SessionMessageTarget(this));
    backend.libssh.ssh_set_message_callback(handle, this.#message.pointer, this.#message.userdata);
    cores.set(this.address, this);
    this.#watch = reactor.watch(this.#fd, 0, (revents) => this.#onReady(revents));
  }

  get disconnectedPromise(): Promise<void> {
    return this.#disconnected.promise;
  }

  /** Throws `SshError("closed")` once `close()` was called. */
  live(): this {
    if (this.closed) throw closedError("Session");
    return this;
  }

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
    if (this.disconnected || this.#destroyed) return;
    if (this.backend.libssh.ssh_get_fd(this.handle) !== this.#fd) this.markDisconnected();
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
    if (this.#destroyed) return "";
    return this.backend.readCString(this.backend.libssh.ssh_get_error(this.handle)) ?? "";
  }

  /** Recomputes what the reactor waits for on this session's socket. */
  updateInterest(): void {
    if (!this.#watch || this.disconnected) return;
    if (!this.#kexWaiter && !this.event) {
      this.#watch.setEvents(0);
      return;
    }
    const flags = this.backend.libssh.ssh_get_poll_flags(this.handle);
    if ((flags & SSH_WRITE_PENDING) === 0) {
      this.#counters.drained();
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
    const stop = this.#counters.queued() >= 2 * this.limits.sessionOutputHighWaterMark;
    if (stop && !this.#readingStopped) this.#limits?.onExceeded("sessionOutputHighWaterMark");
    this.#readingStopped = stop;
    return stop;
  }

  /** An upper bound of the bytes libssh holds for this session's socket (see `ffi/counters.ts`). */
  outputQueued(): number {
    if ((this.backend.libssh.ssh_get_status(this.handle) & SSH_WRITE_PENDING) === 0) this.#counters.drained();
    return this.#counters.queued();
  }

  /** Whether writers wait: libssh holds the output high-water mark or more for the socket. */
  outputFull(): boolean {
    return this.outputQueued() >= this.limits.sessionOutputHighWaterMark;
  }

  /** Runs `write` (an `ssh_channel_write`) through `call`, counting what libssh may queue of it. */
  sendData(write: () => number): number {
    const payloadBefore = this.#counters.payload();
    const written = this.call(write);
    if (written > 0) {
      this.#counters.wrote(written, payloadBefore);
      this.noteActivity();
    }
    return written;
  }

  /** Traffic went out: the idle timeout counts from now (incoming traffic counts in `#onReady`). */
  noteActivity(): void {
    if (this.#limits?.limits.idleTimeout !== undefined) this.#lastActivity = Date.now();
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
      setQuickAck(this.backend, this.#fd);
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
      setQuickAck(this.backend, this.#fd);
      if (revents & POLLIN) this.#heard();
    }
    if (this.#limits?.limits.idleTimeout !== undefined) this.#lastActivity = Date.now();
    const rc = this.call(() => this.#drain(event.handle));
    if (this.#destroyed) return;
    event.dispatched(rc);
    if (this.#connectionEnded(revents)) {
      this.markDisconnected();
      return;
    }
    if (this.channels.size > 0) {
      const outputFull = this.outputFull();
      for (const channel of this.channels.values()) channelCore(channel).sessionProgressed(outputFull);
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

  #connectionEnded(revents: number): boolean {
    const status = this.backend.libssh.ssh_get_status(this.handle);
    if (status & (SSH_CLOSED | SSH_CLOSED_ERROR)) return true;
    // A hang-up libssh did not notice would make every wait return at once, forever (level-triggered).
    return (revents & (POLLHUP | POLLERR | POLLNVAL)) !== 0 && (revents & POLLIN) === 0;
  }

  /** The connection is over: stop polling and wake everyone who waits on it. */
  markDisconnected(): void {
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
    for (const channel of this.channels.values()) channelCore(channel).sessionGone();
    this.#disconnected.resolve();
  }

  setServerCallbacks(callbacks: ServerCallbacks): void {
    this.#unobserve?.();
    const struct = serverCallbackStruct(this.backend, new SessionServerHandlers(this, callbacks));
    for (
      const [name, field] of Object.entries(SERVER_FIELDS) as [ServerCallbackName, ServerCallbackField][]
    ) {
      struct.enable(field, callbacks[name] !== undefined);
    }
    this.#unobserve = callbacks.observe((name, set) => {
      const field = SERVER_FIELDS[name as ServerCallbackName];
      if (field) struct.enable(field, set);
    });
    if (this.backend.libssh.ssh_set_server_callbacks(this.handle, struct.pointer) !== SSH_OK) {
      this.#unobserve();
      struct.release();
      throw new SshError("libssh", "setting the server callbacks failed", {
        libsshMessage: this.errorText(),
      });
    }
    // The previous struct stays allocated until the session is freed: libssh may be iterating it.
    const previous = this.#serverStruct;
    this.#serverStruct = struct;
    if (previous) this.defer(() => previous.release());
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
      this.#authFailed();
    }
  }

  #authFailed(): void {
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

  /** The session's input budget has room again: let channels it stopped take what libssh kept. */
  inputFreed(): void {
    if (this.inputHeld >= this.limits.sessionInputHighWaterMark) return;
    this.inputStarved = false;
    for (const channel of this.channels.values()) channelCore(channel).onInputRoom?.();
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
   * How far a connection that is not logged in got, for choosing which one
   * makes room (see `ServerLimits.maxUnauthenticated`): 2 while it
   * authenticates (a person may be typing), 1 during the key exchange, 0 when
   * it idles, the ones dropped first: no byte came from the client for
   * `QUIET_MS` (not even unread ones) while the key exchange, whose client
   * side is automatic, waited for it.
   */
  startupStage(now: number): number {
    if (this.kexDone) return 2;
    if (now - this.#quietSince < QUIET_MS) return 1;
    if (bytesWaiting(this.backend, this.#fd) > 0) {
      this.#heard();
      return 1;
    }
    return 0;
  }

  /** Tells `onLimit` of a refusal that leaves the session up. */
  reportLimit(limit: LimitName): void {
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
      void this.session.close();
    }
  }

  /** Runs the message callback for a message libssh hands over; 1 lets libssh answer it. */
  answerMessage(handle: Pointer): number {
    const handler = this.messageHandler;
    if (!handler) return 1;
    const message = new Message(this, handle);
    try {
      const type = message.type;
      const subtype = message.subtype;
      if (type === RequestType.ChannelOpen && !this.mayOpenChannel()) {
        message.replyDefault();
        return 0;
      }
      const env = type === RequestType.Channel && subtype === ChannelRequestType.Env
        ? this.#envRequest(message)
        : undefined;
      if (env === null) return 0;
      const forward = type === RequestType.Global && subtype === GlobalRequestType.TcpipForward;
      if (forward && this.reverseForwards >= this.limits.maxReverseForwardsPerSession) {
        this.reportLimit("maxReverseForwardsPerSession");
        message.replyDefault();
        return 0;
      }
      const result = handler.callback(this.session, message, handler.userdata);
      if (typeof result !== "boolean") {
        throw new TypeError("the message callback must return a boolean synchronously");
      }
      const granted = message.replied && !message.refused;
      if (granted && forward) this.reverseForwards++;
      if (granted && type === RequestType.Global && subtype === GlobalRequestType.CancelTcpipForward) {
        this.reverseForwards = Math.max(0, this.reverseForwards - 1);
      }
      if (granted && env) env.accepted();
      // An auth request left to libssh, or answered with its default, is refused.
      const refused = type === RequestType.Auth && subtype !== AuthMethod.None &&
        (message.refused || (!message.replied && result));
      if (refused && !this.authenticated) this.#authFailed();
      return message.replied ? 0 : (result ? 1 : 0);
    } catch (error) {
      if (message.replied) {
        this.onError(error, "message callback");
        return 0;
      }
      throw error;
    } finally {
      message.invalidate();
    }
  }

  /**
   * An env request that reached the message callback: null when it went past
   * its channel's caps (refused here), else what to call once it is granted.
   */
  #envRequest(message: Message): { accepted(): void } | null | undefined {
    const channel = message.channel;
    if (!channel) return undefined;
    const core = channelCore(channel);
    const { name, value } = message.env;
    const bytes = envBytes(name, value);
    if (!core.envFits(bytes)) {
      message.replyDefault();
      return null;
    }
    return { accepted: () => core.envAccepted(bytes) };
  }

  /** Records a successful login made by a message reply. */
  authenticatedBy(user: string, method: AuthMethod): void {
    this.authAnswered(AuthStatus.Success, user, method);
  }

  /** Frees everything; runs outside libssh calls (see `defer`). */
  destroy(): void {
    if (this.#destroyed) return;
    this.markDisconnected();
    this.#destroyed = true;
    this.event?.detach();
    this.event = undefined;
    for (const channel of this.channels.values()) channelCore(channel).sessionFreed();
    this.channels.clear();
    const { libssh } = this.backend;
    libssh.ssh_disconnect(this.handle);
    libssh.ssh_free(this.handle);
    this.#unobserve?.();
    this.#serverStruct?.release();
    this.#message.release();
    cores.delete(this.address);
  }
}

/** The key exchange loop: `ssh_handle_key_exchange` until done, waiting for the socket in between. */
async function keyExchange(core: SessionCore): Promise<boolean> {
  core.kexStarting();
  while (!core.kexDone) {
    if (core.disconnected) return false;
    const rc = core.call(() => core.backend.libssh.ssh_handle_key_exchange(core.handle));
    if (rc === SSH_OK) {
      core.kexDone = true;
      core.updateInterest();
    } else if (rc === SSH_AGAIN) {
      await core.waitForKex();
      if (core.closed) return false;
    } else {
      core.markDisconnected();
      return false;
    }
  }
  return true;
}

const coreOf = new WeakMap<Session, SessionCore>();

/** The internals of a session (not part of the public API). */
export function sessionCore(session: Session): SessionCore {
  const core = coreOf.get(session);
  if (!core) throw new TypeError("not a Session");
  return core;
}

/** Wraps a freshly accepted native session. */
export function acceptedSession(handle: Pointer): Session {
  return new Session(handle);
}

/**
 * One client connection on the server side, made by `listen()`. Every
 * libssh call for it runs on the JS thread without blocking.
 *
 * The typical life: `listen()` hands you the session; set callbacks, run the
 * key exchange, create a `SessionEvent` so that its packets get processed, and
 * wait for `session.disconnected`. `listen()` closes the session when your
 * handler returns.
 *
 * @example
 * ```ts
 * import { AuthMethod, AuthStatus, Bind, listen, ServerCallbacks, SessionEvent, SshKey } from "@libssh/libssh";
 *
 * await using bind = new Bind({ port: 0, hostKey: SshKey.generate("ed25519") });
 * const done = listen(async (session) => {
 *   session.setServerCallbacks(new ServerCallbacks(undefined, {
 *     onAuthPassword: (_s, _u, password) => password === "foo" ? AuthStatus.Success : AuthStatus.Denied,
 *   }));
 *   session.setAuthMethods([AuthMethod.Password]);
 *   if (!await session.handleKeyExchange()) return;
 *   using _event = new SessionEvent(session);
 *   await session.disconnected;
 * }, bind);
 * await bind.close();
 * await done;
 * ```
 */
export class Session {
  /** @internal Use `listen()`; sessions are made by the server. */
  constructor(handle: Pointer) {
    if (handle === null) throw new TypeError("a Session needs a native handle; sessions come from listen()");
    coreOf.set(this, new SessionCore(native(), handle, this));
  }

  /**
   * Runs the key exchange without blocking. Resolves true when it succeeded,
   * false when it failed or the client went away (`getError()` tells why).
   */
  handleKeyExchange(): Promise<boolean> {
    return keyExchange(sessionCore(this).live());
  }

  /** Sets the authentication methods offered to the client. */
  setAuthMethods(methods: readonly AuthMethod[]): void {
    const core = sessionCore(this).live();
    core.backend.libssh.ssh_set_auth_methods(core.handle, authMethodMask(methods));
  }

  /** Installs server callbacks (replacing earlier ones); later changes to them take effect. */
  setServerCallbacks<U>(callbacks: ServerCallbacks<U>): void {
    sessionCore(this).live().setServerCallbacks(callbacks as ServerCallbacks);
  }

  /**
   * Handles requests that no server or channel callback took (keyboard-
   * interactive auth, direct-tcpip, global requests, …). `callback` returns
   * true to let libssh send its default reply (a refusal).
   */
  setMessageCallback<U>(callback: MessageCallback<U>, userdata?: U): void {
    const core = sessionCore(this).live();
    if (typeof callback !== "function") throw new TypeError("the message callback must be a function");
    core.messageHandler = { callback: callback as MessageCallback<unknown>, userdata };
  }

  /** Where errors thrown by callbacks are reported (default: `console.error`). */
  set onError(handler: ErrorHandler) {
    if (typeof handler !== "function") throw new TypeError("onError must be a function");
    sessionCore(this).onError = handler;
  }

  get onError(): ErrorHandler {
    return sessionCore(this).onError;
  }

  /** Whether the connection is still up. */
  get isConnected(): boolean {
    const core = sessionCore(this);
    return !core.closed && !core.disconnected;
  }

  /** Whether `close()` was called. */
  get isClosed(): boolean {
    return sessionCore(this).closed;
  }

  /** Resolves when the connection ends: the client left, an error, or `close()`. */
  get disconnected(): Promise<void> {
    return sessionCore(this).disconnectedPromise;
  }

  /** The client's address and port. */
  get peerAddress(): SocketAddress | null {
    return sessionCore(this).live().peer;
  }

  /** The user name of the successful login, if any. */
  get user(): string | undefined {
    return sessionCore(this).live().user;
  }

  /** Whether a client logged in. */
  get isAuthenticated(): boolean {
    return sessionCore(this).live().authenticated;
  }

  /** The method of the successful login, if any. */
  get authMethod(): AuthMethod | undefined {
    return sessionCore(this).live().authMethod;
  }

  /** The channels open on this session. */
  get channels(): SshChannel[] {
    return [...sessionCore(this).live().channels.values()];
  }

  /** libssh's last error message for this session. */
  getError(): string {
    return sessionCore(this).live().errorText();
  }

  /**
   * Disconnects and frees the session and its channels. Idempotent; safe
   * inside this session's own callbacks (the free waits until libssh returns).
   */
  close(): Promise<void> {
    const core = sessionCore(this);
    if (!core.closed) {
      core.closed = true;
      core.defer(() => core.destroy());
    }
    return core.disconnectedPromise;
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
