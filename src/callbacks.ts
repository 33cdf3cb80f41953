/**
 * User-facing callback sets: `ServerCallbacks` for a session and
 * `ChannelCallbacks` for a channel. Each field is also a settable property;
 * a field that is unset is NULL in libssh's struct, so libssh falls back to
 * its default (usually: deny).
 *
 * Callbacks run on the JS thread while libssh processes a packet and must
 * answer synchronously. A callback that throws, or answers something other
 * than the documented values, is reported to the session's `onError` and
 * treated as a denial — never as a success.
 *
 * @module
 */

import { CHANNEL_CALLBACKS, SERVER_CALLBACKS } from "../ffi/structs.ts";
import { CALLBACK_SET, callbackNames, type CallbackSetState } from "./_callbacks.ts";
import type { AuthStatus, PublicKeyState } from "./auth.ts";
import type { SshKey } from "./key.ts";
import type { Session } from "./session.ts";
import type { SshChannel } from "./channel.ts";

/** The functions of a `ServerCallbacks`; all optional. */
export interface ServerCallbackFunctions<U = unknown> {
  /** Password auth. Return `AuthStatus.Success`, `.Denied` or `.Partial`. */
  onAuthPassword?: (session: Session, user: string, password: string, userdata: U) => AuthStatus;
  /** "none" auth: the client asks to log in without credentials. */
  onAuthNone?: (session: Session, user: string, userdata: U) => AuthStatus;
  /** GSSAPI MIC auth (the principal is given by libssh). */
  onAuthGssapiMic?: (session: Session, user: string, principal: string, userdata: U) => AuthStatus;
  /**
   * Public key auth. Called with `PublicKeyState.None` when the client asks
   * whether a key would be accepted, and with `PublicKeyState.Valid` once it
   * signed and libssh verified the signature: return `AuthStatus.Success` to
   * both for a key you accept (a client denied the question never signs).
   * `key` is a public key you own (close it, or leave it to the GC).
   */
  onAuthPubkey?: (
    session: Session,
    user: string,
    key: SshKey,
    signatureState: PublicKeyState,
    userdata: U,
  ) => AuthStatus;
  /** A service request (`ssh-userauth`, `ssh-connection`); return true to allow. */
  onServiceRequest?: (session: Session, service: string, userdata: U) => boolean;
  /** The client opens a "session" channel: return a new `SshChannel` to accept, null to refuse. */
  onChannelOpenRequestSession?: (session: Session, userdata: U) => SshChannel | null;
}

/** Keys of `ServerCallbackFunctions`. */
export type ServerCallbackName = keyof ServerCallbackFunctions;

/** The names, from the struct's table (`tests/callbacks.test.ts` checks they are this interface's keys). */
const SERVER_CALLBACK_NAMES: readonly string[] = callbackNames(SERVER_CALLBACKS);

/** The functions of a `ChannelCallbacks`; all optional. */
export interface ChannelCallbackFunctions<U = unknown> {
  /**
   * Data from the client; return how many bytes you consumed (nothing: all of
   * them). Return fewer to apply back-pressure: libssh keeps the rest and the
   * client's window stops growing; take it with `channel.read()` once you
   * have room (it is offered again only when new data arrives). `data` is
   * yours to keep; it comes in pieces of at most 64 KiB.
   */
  onData?: (
    session: Session,
    channel: SshChannel,
    data: Uint8Array,
    isStderr: boolean,
    userdata: U,
  ) => number | void;
  /** The client will send no more data. */
  onEof?: (session: Session, channel: SshChannel, userdata: U) => void;
  /** The client closed the channel. */
  onClose?: (session: Session, channel: SshChannel, userdata: U) => void;
  /** The client asks to deliver a signal (`"TERM"`, `"INT"`, …). */
  onSignal?: (session: Session, channel: SshChannel, signal: string, userdata: U) => void;
  /** An exit status (sent by servers; a client rarely sends one). */
  onExitStatus?: (session: Session, channel: SshChannel, status: number, userdata: U) => void;
  /** An exit signal (sent by servers). */
  onExitSignal?: (
    session: Session,
    channel: SshChannel,
    signal: string,
    core: boolean,
    errorMessage: string,
    language: string,
    userdata: U,
  ) => void;
  /** A pty request; return true to accept. */
  onPtyRequest?: (
    session: Session,
    channel: SshChannel,
    term: string,
    width: number,
    height: number,
    pxWidth: number,
    pxHeight: number,
    userdata: U,
  ) => boolean;
  /** A shell request; return true to accept. */
  onShellRequest?: (session: Session, channel: SshChannel, userdata: U) => boolean;
  /** An agent forwarding request. */
  onAuthAgentReq?: (session: Session, channel: SshChannel, userdata: U) => void;
  /** An X11 forwarding request. */
  onX11Req?: (
    session: Session,
    channel: SshChannel,
    singleConnection: boolean,
    authProtocol: string,
    authCookie: string,
    screenNumber: number,
    userdata: U,
  ) => void;
  /** The client's terminal changed size; return true to accept. */
  onPtyWindowChange?: (
    session: Session,
    channel: SshChannel,
    width: number,
    height: number,
    pxWidth: number,
    pxHeight: number,
    userdata: U,
  ) => boolean;
  /** An exec request with the exact command string; return true to accept. */
  onExecRequest?: (session: Session, channel: SshChannel, command: string, userdata: U) => boolean;
  /** An environment variable; return true to accept. */
  onEnvRequest?: (session: Session, channel: SshChannel, name: string, value: string, userdata: U) => boolean;
  /** A subsystem request (`"sftp"`); return true to accept. */
  onSubsystemRequest?: (session: Session, channel: SshChannel, subsystem: string, userdata: U) => boolean;
  /** libssh's socket buffer drained; `bytes` is the channel's remote window. */
  onWriteWontblock?: (session: Session, channel: SshChannel, bytes: number, userdata: U) => void;
}

/** Keys of `ChannelCallbackFunctions`. */
export type ChannelCallbackName = keyof ChannelCallbackFunctions;

/** The names, from the struct's table (`tests/callbacks.test.ts` checks they are this interface's keys). */
const CHANNEL_CALLBACK_NAMES: readonly string[] = callbackNames(CHANNEL_CALLBACKS);

/**
 * Defines a subclass's callback properties on its prototype: accessors shared
 * by every instance (a server makes one set per session and per channel).
 */
function defineCallbackProperties(prototype: object, names: readonly string[]): void {
  for (const name of names) {
    Object.defineProperty(prototype, name, {
      enumerable: true,
      get(this: CallbackSet<unknown, object>): unknown {
        return this[CALLBACK_SET].functions[name];
      },
      set(this: CallbackSet<unknown, object>, fn: unknown): void {
        assign(this[CALLBACK_SET], name, fn);
      },
    });
  }
}

function assign(state: CallbackSetState, name: string, fn: unknown): void {
  if (fn !== undefined && fn !== null && typeof fn !== "function") {
    throw new TypeError(`${name} must be a function`);
  }
  state.functions[name] = (fn ?? undefined) as CallbackSetState["functions"][string];
  if (state.listeners) {
    for (const listener of state.listeners) listener(name, fn !== undefined && fn !== null);
  }
}

/**
 * The common part of `ServerCallbacks` and `ChannelCallbacks`: named optional
 * functions, each also a settable property, plus the `userdata` passed to
 * every call. Changes after the set was installed take effect at once.
 *
 * @example
 * ```ts
 * import type { CallbackSet } from "@libssh/libssh";
 *
 * const shared = (set: CallbackSet<string, object>) => set.userdata;
 * ```
 */
export class CallbackSet<U, F extends object> {
  /** Passed as the last argument of every callback. */
  userdata: U;
  private readonly [CALLBACK_SET]: CallbackSetState = { functions: {}, listeners: undefined };

  /** Sets the properties named in `names` from `functions` (the accessors are on the prototype). */
  constructor(names: readonly string[], userdata: U, functions: Partial<F>) {
    this.userdata = userdata;
    for (const name of names) {
      const fn = (functions as Record<string, unknown>)[name];
      if (fn !== undefined) assign(this[CALLBACK_SET], name, fn);
    }
  }
}

/**
 * Callbacks for a server session (`session.setServerCallbacks`), as in
 * libssh's `ssh_server_callbacks_struct`.
 *
 * @example Password and public key auth
 * ```ts
 * import { AuthStatus, PublicKeyState, ServerCallbacks, SshKey } from "@libssh/libssh";
 *
 * // The keys allowed in, as authorized_keys lines.
 * const authorized = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINEcfdPiV4Zvl5/jO6ExYlU/YKy6TRplVhFToCC4aDs0 me@laptop"]
 *   .map((line) => SshKey.fromPublicKey(line));
 * const callbacks = new ServerCallbacks({ password: "foo", authorized }, {
 *   onAuthPassword: (_session, _user, password, data) =>
 *     password === data.password ? AuthStatus.Success : AuthStatus.Denied,
 *   // Called twice for a key that logs in: first to ask whether it would do (PublicKeyState.None),
 *   // then once libssh verified the client's signature (PublicKeyState.Valid). Accept both for a known key.
 *   onAuthPubkey: (_session, _user, key, state, data) => {
 *     const known = data.authorized.some((k) => k.equals(key));
 *     key.close(); // the callback owns it
 *     const answerable = state === PublicKeyState.None || state === PublicKeyState.Valid;
 *     return known && answerable ? AuthStatus.Success : AuthStatus.Denied;
 *   },
 * });
 * callbacks.onAuthNone = () => AuthStatus.Denied;
 * ```
 */
export class ServerCallbacks<U = unknown> extends CallbackSet<U, ServerCallbackFunctions<U>> {
  /** Creates a set; every function is optional and settable later. */
  constructor(userdata?: U, functions?: ServerCallbackFunctions<U>) {
    super(SERVER_CALLBACK_NAMES, userdata as U, functions ?? {});
  }
}
defineCallbackProperties(ServerCallbacks.prototype, SERVER_CALLBACK_NAMES);
/** The typed function properties of a `ServerCallbacks` (declaration merging). */
export interface ServerCallbacks<U = unknown> extends ServerCallbackFunctions<U> {}

/**
 * Callbacks for a channel (`channel.setCallbacks`), as in libssh's
 * `ssh_channel_callbacks_struct`. Request callbacks return true to accept.
 *
 * @example Answer an exec request
 * ```ts
 * import { ChannelCallbacks } from "@libssh/libssh";
 *
 * const callbacks = new ChannelCallbacks(undefined, {
 *   onExecRequest: (_session, channel, command) => {
 *     channel.write(`you ran: ${command}\n`).then(() => channel.sendExitStatus(0)).then(() => channel.close());
 *     return true;
 *   },
 * });
 * ```
 */
export class ChannelCallbacks<U = unknown> extends CallbackSet<U, ChannelCallbackFunctions<U>> {
  /** Creates a set; every function is optional and settable later. */
  constructor(userdata?: U, functions?: ChannelCallbackFunctions<U>) {
    super(CHANNEL_CALLBACK_NAMES, userdata as U, functions ?? {});
  }
}
defineCallbackProperties(ChannelCallbacks.prototype, CHANNEL_CALLBACK_NAMES);
/** The typed function properties of a `ChannelCallbacks` (declaration merging). */
export interface ChannelCallbacks<U = unknown> extends ChannelCallbackFunctions<U> {}
