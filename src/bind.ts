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
  SSH_BIND_OPTIONS_HOSTKEY,
  SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS,
  SSH_BIND_OPTIONS_IMPORT_KEY,
  SSH_BIND_OPTIONS_KEY_EXCHANGE,
  SSH_BIND_OPTIONS_LOG_VERBOSITY,
  SSH_OK,
} from "../ffi/constants.ts";
import { cString } from "../ffi/cstring.ts";
import { native } from "../ffi/load.ts";
import { POLLIN } from "../ffi/platform.ts";
import { setCloseOnExec, setNonBlocking } from "../ffi/fd.ts";
import { socketAddress } from "../ffi/socket.ts";
import { listenTcp } from "../ffi/tcp.ts";
import { AuthMethod, authMethodMask } from "./auth.ts";
import { closedError, SshError } from "./errors.ts";
import { keyHandle, SshKey } from "./key.ts";
import type { MessageCallback } from "./message.ts";
import { Mutex } from "./mutex.ts";
import { reactor, type Watch } from "./reactor.ts";
import { acceptedSession, type Session, sessionCore } from "./session.ts";
import { type LimitName, resolveLimits, type ServerLimits } from "./limits.ts";

/** Connections taken per readiness of the listening socket. */
const ACCEPT_BATCH = 64;
/** The listen() backlog (the kernel caps it at net.core.somaxconn). */
const LISTEN_BACKLOG = 1024;

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

/** Options of `new Bind()`. */
export interface BindOptions {
  /** Address to listen on. Default `"127.0.0.1"`. */
  addr?: string;
  /** TCP port; 0 (the default) picks a free one, read it back from `bind.port`. */
  port?: number;
  /** The host key: a private key file path or an `SshKey`. */
  hostKey?: string | SshKey;
  /** A host key as an `SshKey` (the reference's `key`); used when `hostKey` is not given. */
  key?: SshKey;
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
   * Accepted for parity with LibSSH.jl, where the accept loop wakes every
   * `pollTimeout` seconds to notice a closed bind. Here closing the bind wakes
   * the loop at once, so the value only has to be valid (> 0).
   */
  pollTimeout?: number;
  /** Stops accepting when aborted; `listen()` then resolves (the bind stays open). */
  signal?: AbortSignal;
  /** Reports a handler that threw or rejected (default: `console.error`). */
  onError?: (error: unknown, session: Session) => void;
  /** Limits for this listener; they override the Bind's, which override the defaults. */
  limits?: ServerLimits;
  /**
   * Hears of each connection that went over a limit (it was disconnected, or
   * for `maxChannelsPerSession` its channel refused). Default: nothing.
   */
  onLimit?: (session: Session, limit: LimitName) => void;
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
  #message: { callback: MessageCallback<unknown>; userdata: unknown } | undefined;

  /** Binds and listens; throws `SshError` `"listen-failed"` when the address is taken or invalid. */
  constructor(options: BindOptions = {}) {
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
    if (hostKey instanceof SshKey && !hostKey.isPrivate) {
      throw new TypeError("the host key must be a private key");
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
    if (typeof hostKey === "string") {
      set(SSH_BIND_OPTIONS_HOSTKEY, cString(hostKey), `host key file ${hostKey}`);
    } else {
      // The bind takes ownership of the key it is given: hand it a copy.
      const copy = libssh.ssh_key_dup(keyHandle(hostKey));
      if (libssh.ssh_bind_import_key(handle, SSH_BIND_OPTIONS_IMPORT_KEY, copy) !== SSH_OK) {
        libssh.ssh_key_free(copy);
        const error = bindError(handle, "the host key was refused");
        libssh.ssh_bind_free(handle);
        throw error;
      }
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
    if (!this.#mutex.locked) throw new SshError("libssh", "the bind is not locked");
    this.#mutex.unlock();
  }

  static {
    startAccepting = (bind, acceptor) => bind.#startAccepting(acceptor);
    stopAccepting = (bind) => bind.#stopAccepting();
  }

  /** Starts accepting for `listen()`. */
  #startAccepting(acceptor: Acceptor): void {
    const handle = this.#live();
    if (this.#acceptor) throw new SshError("libssh", "listen() is already running on this bind");
    this.#acceptor = acceptor;
    const fd = native().libssh.ssh_bind_get_fd(handle);
    this.#watch = reactor.watch(fd, POLLIN, () => {
      // Take every waiting connection (up to a bound, so sessions get their turn too).
      for (let i = 0; i < ACCEPT_BATCH && this.#acceptOne(); i++);
    });
  }

  /** Stops accepting (the bind stays open). */
  #stopAccepting(): void {
    const acceptor = this.#acceptor;
    this.#acceptor = undefined;
    this.#watch?.close();
    this.#watch = undefined;
    acceptor?.stop();
  }

  /** Accepts one waiting connection; false when there was none. */
  #acceptOne(): boolean {
    const handle = this.#handle;
    const acceptor = this.#acceptor;
    if (handle === null || !acceptor) return false;
    const { libssh } = native();
    const sessionHandle = libssh.ssh_new();
    if (sessionHandle === null) return false;
    if (libssh.ssh_bind_accept(handle, sessionHandle) !== SSH_OK) {
      libssh.ssh_free(sessionHandle); // nothing (more) to accept
      return false;
    }
    const session = acceptedSession(sessionHandle);
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
  options: ListenOptions = {},
): Promise<void> {
  if (typeof handler !== "function") throw new TypeError("the handler must be a function");
  if (!(bind instanceof Bind)) throw new TypeError("listen() needs a Bind");
  const pollTimeout = options.pollTimeout ?? 0.1;
  if (!(pollTimeout > 0)) throw new RangeError("pollTimeout must be > 0");
  const onError = options.onError ?? ((error: unknown) => console.error("libssh listen handler:", error));
  const limits = resolveLimits(bind.limits, options.limits);
  const onLimit = options.onLimit ?? ((): void => {});
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
      if (unauthenticated.size >= limits.maxUnauthenticated) {
        reportLimit(session, "maxUnauthenticated");
        void session.close();
        return;
      }
      unauthenticated.add(session);
      const core = sessionCore(session);
      core.onAuthenticated = () => unauthenticated.delete(session);
      void core.disconnectedPromise.then(() => unauthenticated.delete(session));
      core.applyLimits(limits, (limit) => reportLimit(session, limit));
      Promise.resolve()
        .then(() => handler(session))
        .catch((error) => {
          try {
            onError(error, session);
          } catch { /* a failing reporter must not stop the server */ }
        })
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
