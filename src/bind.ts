/**
 * `Bind`, the listening socket of a server, and `listen()`, its accept loop.
 *
 * @module
 */

import type { Pointer } from "../ffi/backend.ts";
import {
  SSH_BIND_OPTIONS_BINDADDR,
  SSH_BIND_OPTIONS_BINDPORT,
  SSH_BIND_OPTIONS_CIPHERS_C_S,
  SSH_BIND_OPTIONS_CIPHERS_S_C,
  SSH_BIND_OPTIONS_HMAC_C_S,
  SSH_BIND_OPTIONS_HMAC_S_C,
  SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS,
  SSH_BIND_OPTIONS_IMPORT_KEY,
  SSH_BIND_OPTIONS_KEY_EXCHANGE,
  SSH_BIND_OPTIONS_LOG_VERBOSITY,
  SSH_OK,
} from "../ffi/constants.ts";
import { cString } from "../ffi/cstring.ts";
import { native } from "./_native.ts";
import { ECONNABORTED, EINTR, POLLIN, SOCK_CLOEXEC, SOCK_NONBLOCK } from "../ffi/platform.ts";
import { claimDescriptors, isExhaustion, lastErrno, setCloseOnExec, setNonBlocking } from "../ffi/fd.ts";
import { socketAddress } from "../ffi/socket.ts";
import { listenTcp } from "../ffi/tcp.ts";
import { AuthMethod, authMethodMask } from "./auth.ts";
import { closedError, fileError, SshError } from "./errors.ts";
import { keyHandle, SshKey } from "./key.ts";
import type { MessageCallback } from "./message.ts";
import { Mutex } from "./mutex.ts";
import { reactor, type Watch } from "./reactor.ts";
import { SESSION_CORE } from "./_session_core.ts";
import { Session } from "./session.ts";
import { type LimitName, type ResolvedLimits, resolveLimits, type ServerLimits } from "./limits.ts";

/** Connections taken per readiness of the listening socket. */
const ACCEPT_BATCH = 64;
/** The listen() backlog (the kernel caps it at net.core.somaxconn). */
const LISTEN_BACKLOG = 1024;
/**
 * How long accepting pauses when the system has no descriptor (or memory) for
 * the next connection, as nginx does: the connections stay queued, and
 * polling the listening socket meanwhile would spin.
 */
const ACCEPT_RETRY_MS = 500;

/** Algorithm lists (comma-separated, in libssh/OpenSSH syntax) a server accepts. */
export interface BindAlgorithms {
  /** Key exchange, e.g. `"curve25519-sha256"`. */
  kex?: string;
  /** Ciphers both ways, e.g. `"aes128-gcm@openssh.com"`. */
  ciphers?: string;
  /** MACs both ways. */
  hmac?: string;
  /** Host key signature algorithms, e.g. `"ssh-ed25519"`. */
  hostKey?: string;
}

/**
 * Options of `new Bind()`: the host key, which is required, and the
 * `BindSettings`. The key is `hostKey` (a private key file or an `SshKey`) or,
 * for compatibility with LibSSH.jl, by its name there: `key` (an `SshKey`).
 *
 * @example
 * ```ts
 * import { type BindOptions, SshKey } from "@libssh/libssh";
 *
 * const fromFile: BindOptions = { hostKey: "/etc/ssh/ssh_host_ed25519_key", port: 2222 };
 * const generated: BindOptions = { key: SshKey.generate("ed25519") };
 * ```
 */
export type BindOptions =
  & BindSettings
  & ({ hostKey: string | SshKey; key?: undefined } | { key: SshKey; hostKey?: undefined });

/** The options of `new Bind()` besides the host key (see `BindOptions`). */
export interface BindSettings {
  /** Address to listen on. Default `"127.0.0.1"`. */
  addr?: string;
  /** TCP port; 0 (the default) picks a free one, read it back from `bind.port`. */
  port?: number;
  /** Auth methods `listen()` offers each session. Default `[AuthMethod.Password]`. */
  authMethods?: AuthMethod[];
  /** libssh's log level (0 none … 4 trace) printed on stderr. Default 0. */
  logVerbosity?: number;
  /** Algorithms to allow instead of libssh's defaults. */
  algorithms?: BindAlgorithms;
  /** Limits `listen()` enforces on each connection (see `ServerLimits` for the defaults). */
  limits?: ServerLimits;
  /**
   * Sets `SO_REUSEPORT` on the listening socket, so that several processes
   * (each with its own `Bind` and this option) listen on one port and the
   * kernel spreads the connections among them: a way to use every core (see
   * the README, "Using every core"). Default false.
   */
  reusePort?: boolean;
}

/** Options of `listen()`. */
export interface ListenOptions {
  /**
   * Compatibility (LibSSH.jl): there the accept loop wakes every
   * `pollTimeout` seconds to notice a closed bind. Here closing the bind wakes
   * the loop at once, so the value only has to be valid (> 0).
   */
  pollTimeout?: number;
  /** Stops accepting when aborted; `listen()` then resolves (the bind stays open). */
  signal?: AbortSignal;
  /**
   * Reports a handler that threw or rejected, and a session nobody processes
   * (see `sessionEventGrace`). Default: `console.error`.
   */
  onError?: (error: unknown, session: Session) => void;
  /** Limits for this listener; they override the Bind's, which override the defaults. */
  limits?: ServerLimits;
  /**
   * Hears of each connection that went over a limit (it was disconnected, or
   * for `maxChannelsPerSession` its channel refused). Default: nothing.
   */
  onLimit?: (session: Session, limit: LimitName) => void;
  /**
   * Milliseconds after the handler got a session by which its packets should
   * be processed: `handleKeyExchange()` run, then a `SessionEvent` created. A
   * session still connected without either is reported to `onError` once,
   * with the fix: its client would otherwise wait in silence (until
   * `loginGraceTime`). Default 10000; 0 turns the check off.
   */
  sessionEventGrace?: number;
}

/** `ListenOptions.sessionEventGrace`'s default. */
const SESSION_EVENT_GRACE_MS = 10_000;

/**
 * Why nobody processes `session`'s packets, or undefined when something does
 * (a key exchange in progress, or a `SessionEvent`).
 */
function unprocessed(session: Session): string | undefined {
  const core = session[SESSION_CORE];
  if (core.closed || core.disconnected || core.event || core.exchangingKeys) return undefined;
  return core.kexDone
    ? "its key exchange is done but it has no SessionEvent"
    : "the handler did not call session.handleKeyExchange()";
}

/** Reads a host key file, with an error that says what is wrong with it. */
export function hostKeyFile(path: string): SshKey {
  try {
    return SshKey.fromFile(path);
  } catch (error) {
    if (!(error instanceof SshError)) throw error;
    if (error.code === "io") throw fileError(`host key file ${path}`, error.cause);
    const message = error.code === "invalid-key"
      ? `host key file ${path} is no private key libssh can read (${error.message})`
      : `host key file ${path}: ${error.message}`;
    throw new SshError(error.code, message, { cause: error });
  }
}

function bindError(bind: Pointer, what: string): SshError {
  const backend = native();
  return new SshError("listen-failed", what, {
    libsshMessage: backend.readCString(backend.libssh.ssh_get_error(bind)) ?? undefined,
  });
}

/** Frees a Bind that was dropped without `close()` (a backstop: its port stays taken until then). */
const bindFinalizer = new FinalizationRegistry<bigint>((address) => {
  const backend = native();
  backend.libssh.ssh_bind_free(backend.pointerAt(address));
});

/** `listen()`'s access to a Bind's accept loop (kept off the public API). */
let startAccepting: (bind: Bind, acceptor: Acceptor) => void;
let stopAccepting: (bind: Bind) => void;

interface Acceptor {
  onSession(session: Session): void;
  stop(): void;
}

/**
 * A listening SSH server socket (`ssh_bind`). The constructor binds and
 * listens at once, so `bind.port` is known (also for port 0).
 *
 * Closing a bind stops accepting connections; sessions already accepted keep
 * working until they end or are closed.
 *
 * @example
 * ```ts
 * import { Bind, SshKey } from "@libssh/libssh";
 *
 * await using bind = new Bind({ port: 0, hostKey: SshKey.generate("ed25519") });
 * console.log(`listening on 127.0.0.1:${bind.port}`);
 * ```
 */
export class Bind {
  #handle: Pointer;
  readonly #addr: string;
  readonly #port: number;
  readonly #authMethods: AuthMethod[];
  readonly #limits: ServerLimits;
  readonly #mutex = new Mutex();
  #watch: Watch | undefined;
  #acceptor: Acceptor | undefined;
  #acceptRetry: ReturnType<typeof setTimeout> | undefined;
  #message: { callback: MessageCallback<unknown>; userdata: unknown } | undefined;

  /**
   * Binds and listens; throws `SshError` `"listen-failed"` when the address is
   * taken or invalid, `"io"` or `"invalid-key"` for a host key file that cannot
   * be read or holds no private key.
   */
  constructor(options: BindOptions) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("a Bind needs options with a host key: new Bind({ hostKey: path or SshKey })");
    }
    const addr = options.addr ?? "127.0.0.1";
    const port = options.port ?? 0;
    if (typeof addr !== "string" || addr === "") throw new TypeError("addr must be a non-empty string");
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError("port must be from 0 to 65535");
    }
    const verbosity = options.logVerbosity ?? 0;
    if (!Number.isInteger(verbosity) || verbosity < 0 || verbosity > 4) {
      throw new RangeError("logVerbosity must be from 0 to 4");
    }
    this.#limits = resolveLimits(options.limits);
    const hostKey = options.hostKey ?? options.key;
    if (hostKey === undefined) throw new TypeError("a Bind needs a host key (hostKey: path or SshKey)");
    if (typeof hostKey !== "string" && !(hostKey instanceof SshKey)) {
      throw new TypeError("hostKey must be a file path or an SshKey");
    }
    // A file is read here rather than by libssh, whose one message for every failure is "invalid host key".
    const key = typeof hostKey === "string" ? hostKeyFile(hostKey) : hostKey;
    if (!key.isPrivate) {
      if (key !== hostKey) key.close();
      throw new TypeError(
        typeof hostKey === "string"
          ? `host key file ${hostKey} holds a public key: give the private key file (without .pub)`
          : "the host key must be a private key",
      );
    }
    this.#authMethods = [...(options.authMethods ?? [AuthMethod.Password])];
    authMethodMask(this.#authMethods);

    const backend = native();
    const { libssh } = backend;
    const handle = libssh.ssh_bind_new();
    if (handle === null) throw new SshError("libssh", "ssh_bind_new failed");
    const set = (
      option: number,
      value: Uint8Array<ArrayBuffer> | Int32Array<ArrayBuffer>,
      what: string,
    ): void => {
      if (libssh.ssh_bind_options_set(handle, option, value) !== SSH_OK) {
        const error = bindError(handle, `invalid ${what}`);
        libssh.ssh_bind_free(handle);
        throw error;
      }
    };
    set(SSH_BIND_OPTIONS_BINDADDR, cString(addr), `address ${addr}`);
    set(SSH_BIND_OPTIONS_BINDPORT, new Int32Array([port]), `port ${port}`);
    set(SSH_BIND_OPTIONS_LOG_VERBOSITY, new Int32Array([verbosity]), "log verbosity");
    // The bind takes ownership of the key it is given: hand it a copy.
    const copy = libssh.ssh_key_dup(keyHandle(key));
    if (key !== hostKey) key.close();
    if (libssh.ssh_bind_import_key(handle, SSH_BIND_OPTIONS_IMPORT_KEY, copy) !== SSH_OK) {
      libssh.ssh_key_free(copy);
      const error = bindError(handle, "the host key was refused");
      libssh.ssh_bind_free(handle);
      throw error;
    }
    const algorithms = options.algorithms ?? {};
    const lists: [number[], string | undefined, string][] = [
      [[SSH_BIND_OPTIONS_KEY_EXCHANGE], algorithms.kex, "key exchange algorithms"],
      [[SSH_BIND_OPTIONS_CIPHERS_C_S, SSH_BIND_OPTIONS_CIPHERS_S_C], algorithms.ciphers, "ciphers"],
      [[SSH_BIND_OPTIONS_HMAC_C_S, SSH_BIND_OPTIONS_HMAC_S_C], algorithms.hmac, "MACs"],
      [[SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS], algorithms.hostKey, "host key algorithms"],
    ];
    for (const [optionIds, value, what] of lists) {
      if (value === undefined) continue;
      for (const option of optionIds) set(option, cString(value), `${what} ${value}`);
    }
    if (options.reusePort !== undefined && typeof options.reusePort !== "boolean") {
      libssh.ssh_bind_free(handle);
      throw new TypeError("reusePort must be a boolean");
    }
    if (options.reusePort) {
      // libssh makes its socket in ssh_bind_listen, without SO_REUSEPORT: make it here and hand it
      // over (ssh_bind_listen then only loads the keys; ssh_bind_free closes it).
      let listener;
      try {
        listener = listenTcp(backend, addr, port, { reusePort: true, backlog: LISTEN_BACKLOG });
      } catch (cause) {
        libssh.ssh_bind_free(handle);
        throw new SshError("listen-failed", `cannot listen on ${addr}:${port}: ${(cause as Error).message}`, {
          cause,
        });
      }
      libssh.ssh_bind_set_fd(handle, listener.fd);
    }
    if (libssh.ssh_bind_listen(handle) !== SSH_OK) {
      const error = bindError(handle, `cannot listen on ${addr}:${port}`);
      libssh.ssh_bind_free(handle);
      throw error;
    }
    libssh.ssh_bind_set_blocking(handle, 0);
    const fd = libssh.ssh_bind_get_fd(handle);
    setCloseOnExec(backend, fd);
    setNonBlocking(backend, fd); // accept() must say EAGAIN once the queue is empty, not block
    // libssh listens with a backlog of 10: a burst of clients would overflow it
    // and wait for SYN retries. Listening again only raises the backlog.
    backend.libc.listen(fd, LISTEN_BACKLOG);
    this.#handle = handle;
    bindFinalizer.register(this, backend.address(handle), this);
    this.#addr = addr;
    this.#port = socketAddress(backend, fd, "local")?.port ?? port;
  }

  #live(): Pointer {
    if (this.#handle === null) throw closedError("Bind");
    return this.#handle;
  }

  /** The limits this bind gives `listen()`, defaults filled in (see `ServerLimits`). */
  get limits(): ServerLimits {
    return { ...this.#limits };
  }

  /** The port actually listened on (the one picked by the system for port 0). */
  get port(): number {
    this.#live();
    return this.#port;
  }

  /** The address listened on. */
  get addr(): string {
    this.#live();
    return this.#addr;
  }

  /** The auth methods `listen()` offers each session. */
  get authMethods(): AuthMethod[] {
    this.#live();
    return [...this.#authMethods];
  }

  /** Whether the bind is still open (not freed). */
  get isOpen(): boolean {
    return this.#handle !== null;
  }

  /** libssh's last error message for this bind. */
  getError(): string {
    const backend = native();
    return backend.readCString(backend.libssh.ssh_get_error(this.#live())) ?? "";
  }

  /**
   * Sets the message callback `listen()` installs on each session it accepts
   * (see `Session.setMessageCallback`). Set it before calling `listen()`.
   */
  setMessageCallback<U>(callback: MessageCallback<U>, userdata?: U): void {
    this.#live();
    if (typeof callback !== "function") throw new TypeError("the message callback must be a function");
    this.#message = { callback: callback as MessageCallback<unknown>, userdata };
  }

  /** Takes the bind's async lock (the reference's `lock(bind)`). */
  lock(): Promise<void> {
    this.#live();
    return this.#mutex.lock();
  }

  /** Releases the bind's async lock. */
  unlock(): void {
    if (!this.#mutex.locked) throw new TypeError("the bind is not locked");
    this.#mutex.unlock();
  }

  static {
    startAccepting = (bind, acceptor) => bind.#startAccepting(acceptor);
    stopAccepting = (bind) => bind.#stopAccepting();
  }

  /** Starts accepting for `listen()`. */
  #startAccepting(acceptor: Acceptor): void {
    const handle = this.#live();
    if (this.#acceptor) throw new TypeError("listen() is already running on this bind");
    this.#acceptor = acceptor;
    const fd = native().libssh.ssh_bind_get_fd(handle);
    this.#watch = reactor.watch(fd, POLLIN, () => {
      // Take every waiting connection (up to a bound, so sessions get their turn too).
      for (let i = 0; i < ACCEPT_BATCH && this.#acceptOne(fd); i++);
    });
  }

  /** Out of descriptors or memory: stop polling the listening socket for a while. */
  #pauseAccepting(): void {
    this.#watch?.setEvents(0);
    clearTimeout(this.#acceptRetry);
    this.#acceptRetry = setTimeout(() => {
      this.#acceptRetry = undefined;
      this.#watch?.setEvents(POLLIN);
    }, ACCEPT_RETRY_MS);
  }

  /** Stops accepting (the bind stays open). */
  #stopAccepting(): void {
    const acceptor = this.#acceptor;
    this.#acceptor = undefined;
    this.#watch?.close();
    this.#watch = undefined;
    clearTimeout(this.#acceptRetry);
    this.#acceptRetry = undefined;
    acceptor?.stop();
  }

  /**
   * Accepts one waiting connection; false when there is none (or accepting
   * paused). The accept is ours, not `ssh_bind_accept`'s, so that its errno
   * tells "nothing waiting" from "no descriptor left", which must not spin.
   */
  #acceptOne(listenFd: number): boolean {
    const handle = this.#handle;
    const acceptor = this.#acceptor;
    if (handle === null || !acceptor) return false;
    const backend = native();
    const { libssh, libc } = backend;
    const fd = libc.accept4(listenFd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const errno = lastErrno(backend);
      if (errno === EINTR || errno === ECONNABORTED) return true;
      if (isExhaustion(errno)) this.#pauseAccepting();
      return false; // EAGAIN: nothing (more) to accept
    }
    try {
      claimDescriptors(backend, "accept", fd);
    } catch {
      return true; // closed at once: descriptors are running out (the client sees the connection closed)
    }
    const sessionHandle = libssh.ssh_new();
    if (sessionHandle === null) {
      libc.close(fd);
      this.#pauseAccepting();
      return false;
    }
    if (libssh.ssh_bind_accept_fd(handle, sessionHandle, fd) !== SSH_OK) {
      // The session owns the socket once libssh got that far; else it is still ours.
      const owned = libssh.ssh_get_fd(sessionHandle) === fd;
      libssh.ssh_free(sessionHandle);
      if (!owned) libc.close(fd);
      return true;
    }
    const session = Session[SESSION_CORE](sessionHandle);
    try {
      session.setAuthMethods(this.#authMethods);
      if (this.#message) session.setMessageCallback(this.#message.callback, this.#message.userdata);
    } catch (error) {
      void session.close();
      throw error;
    }
    acceptor.onSession(session);
    return true;
  }

  /** Stops `listen()` and frees the socket. Idempotent; accepted sessions live on. */
  close(): Promise<void> {
    const handle = this.#handle;
    if (handle === null) return Promise.resolve();
    this.#stopAccepting();
    this.#handle = null;
    bindFinalizer.unregister(this);
    native().libssh.ssh_bind_free(handle);
    return Promise.resolve();
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Which connection to drop, if any, when `newcomer` arrives while `waiting`
 * (oldest first) are not logged in yet; like sshd's `MaxStartups
 * start:rate:full`, but what is dropped first is a connection that idles
 * (see `SessionCore.idlesBeforeLogin`), the oldest of those: from `start` on
 * with a probability rising from `rate`% to 100% at `full` (random early
 * drop), and at `full` always. Only at `full` with no idle one is the
 * newcomer refused. So idle connections cannot lock anyone out, and a burst
 * of clients that log in is never refused below `full`.
 */
function makeRoom(waiting: Set<Session>, newcomer: Session, limits: ResolvedLimits): Session | undefined {
  const full = limits.maxUnauthenticated;
  const start = Math.min(limits.maxUnauthenticatedStart, full);
  const count = waiting.size;
  if (count < start) return undefined;
  if (count < full) {
    const percent = limits.maxUnauthenticatedRate +
      (100 - limits.maxUnauthenticatedRate) * (count - start) / (full - start);
    if (Math.random() * 100 >= percent) return undefined;
  }
  const now = Date.now();
  for (const session of waiting) {
    if (session[SESSION_CORE].idlesBeforeLogin(now)) return session;
  }
  return count < full ? undefined : newcomer;
}

/**
 * Accepts connections on `bind` and calls `handler(session)` for each, with
 * the bind's auth methods and message callback already set on the session.
 * The session is closed when the handler returns or throws (a throwing
 * handler is reported; the listener goes on). Resolves when the bind is
 * closed or `signal` aborts.
 *
 * @example
 * ```ts
 * import { Bind, listen, SshKey } from "@libssh/libssh";
 *
 * await using bind = new Bind({ port: 0, hostKey: SshKey.generate("ed25519") });
 * const controller = new AbortController();
 * const done = listen(async (session) => {
 *   await session.handleKeyExchange();
 * }, bind, { signal: controller.signal });
 * controller.abort();
 * await done;
 * ```
 */
export function listen(
  handler: (session: Session) => void | Promise<void>,
  bind: Bind,
  options?: ListenOptions,
): Promise<void> {
  if (typeof handler !== "function") throw new TypeError("the handler must be a function");
  if (!(bind instanceof Bind)) throw new TypeError("listen() needs a Bind");
  options ??= {};
  const pollTimeout = options.pollTimeout ?? 0.1;
  if (!(pollTimeout > 0)) throw new RangeError("pollTimeout must be > 0");
  const onError = options.onError ?? ((error: unknown) => console.error("libssh listen handler:", error));
  const limits = resolveLimits(bind.limits, options.limits);
  const onLimit = options.onLimit ?? ((): void => {});
  const eventGrace = options.sessionEventGrace ?? SESSION_EVENT_GRACE_MS;
  if (!(eventGrace >= 0)) throw new RangeError("sessionEventGrace must be >= 0");
  const report = (error: unknown, session: Session): void => {
    try {
      onError(error, session);
    } catch { /* a failing reporter must not stop the server */ }
  };
  const reportLimit = (session: Session, limit: LimitName): void => {
    try {
      onLimit(session, limit);
    } catch { /* a failing reporter must not stop the server */ }
  };
  const unauthenticated = new Set<Session>();
  const signal = options.signal;
  if (signal?.aborted) return Promise.resolve();
  let resolve!: () => void;
  const stopped = new Promise<void>((r) => resolve = r);
  const abort = (): void => stopAccepting(bind);
  startAccepting(bind, {
    onSession: (session) => {
      const dropped = makeRoom(unauthenticated, session, limits);
      if (dropped) {
        reportLimit(dropped, "maxUnauthenticated");
        unauthenticated.delete(dropped);
        void dropped.close();
        if (dropped === session) return;
      }
      unauthenticated.add(session);
      const core = session[SESSION_CORE];
      core.onAuthenticated = () => unauthenticated.delete(session);
      void core.disconnectedPromise.then(() => unauthenticated.delete(session));
      core.applyLimits(limits, (limit) => reportLimit(session, limit));
      if (eventGrace > 0) {
        const check = setTimeout(() => {
          const why = unprocessed(session);
          if (!why) return;
          const peer = core.peer ? `${core.peer.address}:${core.peer.port}` : "a client";
          report(
            new Error(
              `the session of ${peer} is not processed ${eventGrace} ms after listen() handed it over: ${why}, ` +
                "so its client waits for an answer that never comes. In the handler: " +
                "`if (!await session.handleKeyExchange()) return; using _event = new SessionEvent(session); " +
                "await session.disconnected;`",
            ),
            session,
          );
        }, eventGrace);
        void core.disconnectedPromise.then(() => clearTimeout(check));
      }
      Promise.resolve()
        .then(() => handler(session))
        .catch((error) => report(error, session))
        .finally(() => session.close());
    },
    stop: () => {
      signal?.removeEventListener("abort", abort);
      resolve();
    },
  });
  signal?.addEventListener("abort", abort, { once: true });
  return stopped;
}
