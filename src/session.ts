/**
 * A server-side SSH session: one client connection.
 *
 * @module
 */

import type { Pointer } from "../ffi/backend.ts";
import { native } from "./_native.ts";
import type { SocketAddress } from "../ffi/socket.ts";
import { serverCallbackStruct, type ServerHandlers } from "../ffi/trampolines.ts";
import { SERVER_CALLBACKS, type ServerCallbackField, type StructLayout } from "../ffi/structs.ts";
import { fieldsByName, forwarderFor, observeCallbacks } from "./_callbacks.ts";
import { CHANNEL_CORE, envBytes } from "./_channel_core.ts";
import type { ErrorHandler } from "./_libssh_session.ts";
import { type MessageAnswer, SESSION_CORE, SessionCore } from "./_session_core.ts";
import { AuthMethod, authMethodMask, PublicKeyState } from "./auth.ts";
import type { ServerCallbackName, ServerCallbacks } from "./callbacks.ts";
import type { SshChannel } from "./channel.ts";
import { keyFromHandle } from "./key.ts";
import {
  ChannelRequestType,
  GlobalRequestType,
  Message,
  type MessageCallback,
  RequestType,
} from "./message.ts";

export type { ErrorHandler };

const SERVER_FIELDS = fieldsByName(SERVER_CALLBACKS);

/** The method each auth callback logs in with. */
const AUTH_METHODS: Partial<Record<ServerCallbackField, AuthMethod>> = {
  authPassword: AuthMethod.Password,
  authNone: AuthMethod.None,
  authGssapiMic: AuthMethod.GssapiMic,
  authPubkey: AuthMethod.PublicKey,
};

/**
 * A session's server callbacks as libssh calls them: the table's forwarders
 * (methods of one object, not closures per session), plus what the session
 * learns from the answers.
 */
class SessionServerHandlers extends forwarderFor(SERVER_CALLBACKS) {
  readonly #core: SessionCore;
  readonly handlers: Partial<ServerHandlers> = this;

  constructor(core: SessionCore, callbacks: ServerCallbacks) {
    super([core.owner], callbacks);
    this.#core = core;
  }

  onError(error: unknown, name: string): void {
    this.#core.onError(error, name);
  }

  override forward<R>(layout: StructLayout<string>, field: ServerCallbackField, args: readonly unknown[]): R {
    const answer = super.forward<number | SshChannel | null | undefined>(layout, field, args);
    const method = AUTH_METHODS[field];
    // libssh itself only logs in with a verified signature; a public key with state None only asks.
    if (method !== undefined && (field !== "authPubkey" || args[2] === PublicKeyState.Valid)) {
      this.#core.authAnswered(answer as number, args[0] as string, method);
    }
    if (field !== "channelOpenRequestSession") return answer as R;
    if (answer === null || answer === undefined) return null as R;
    const channelCore = (answer as SshChannel)[CHANNEL_CORE];
    if (channelCore.session !== this.#core) throw new TypeError("the channel belongs to another session");
    return channelCore.live().handle as R;
  }

  authPubkey(user: string, keyHandle: Pointer, state: number): number {
    const key = keyFromHandle(this.#core.backend.libssh.ssh_key_dup(keyHandle));
    return this.forward(SERVER_CALLBACKS, "authPubkey", [user, key, state]);
  }

  channelOpenRequestSession(): Pointer {
    if (!this.#core.mayOpenChannel()) return null;
    return this.forward(SERVER_CALLBACKS, "channelOpenRequestSession", []);
  }
}

/** What the message callback tells libssh: the message was answered (or is to go unanswered). */
const HANDLED = 0;
/** What the message callback tells libssh: send your default reply (a refusal). */
const DEFAULT_REPLY = 1;

/**
 * Runs the message callback for a message libssh hands over, within the
 * session's limits.
 */
function answerMessage(
  core: SessionCore,
  handler: { callback: MessageCallback<unknown>; userdata: unknown },
  handle: Pointer,
): number {
  const answer: MessageAnswer = { handle, open: true, replied: false, refused: false };
  const message = Message[SESSION_CORE](core, answer);
  try {
    const type = message.type;
    const subtype = message.subtype;
    if (type === RequestType.ChannelOpen && !core.mayOpenChannel()) {
      message.replyDefault();
      return HANDLED;
    }
    const env = type === RequestType.Channel && subtype === ChannelRequestType.Env
      ? envRequest(message)
      : undefined;
    if (env === null) return HANDLED;
    const forward = type === RequestType.Global && subtype === GlobalRequestType.TcpipForward;
    if (forward && core.reverseForwards >= core.limits.maxReverseForwardsPerSession) {
      core.reportLimit("maxReverseForwardsPerSession");
      message.replyDefault();
      return HANDLED;
    }
    const result = handler.callback(core.owner, message, handler.userdata);
    if (typeof result !== "boolean") {
      throw new TypeError("the message callback must return a boolean synchronously");
    }
    const granted = answer.replied && !answer.refused;
    if (granted && forward) core.reverseForwards++;
    if (granted && type === RequestType.Global && subtype === GlobalRequestType.CancelTcpipForward) {
      core.reverseForwards = Math.max(0, core.reverseForwards - 1);
    }
    if (granted && env) env.accepted();
    // An auth request left to libssh, or answered with its default, is refused.
    const refused = type === RequestType.Auth && subtype !== AuthMethod.None &&
      (answer.refused || (!answer.replied && result));
    if (refused && !core.authenticated) core.authFailed();
    return answer.replied ? HANDLED : (result ? DEFAULT_REPLY : HANDLED);
  } catch (error) {
    if (answer.replied) {
      core.onError(error, "message callback");
      return HANDLED;
    }
    throw error;
  } finally {
    answer.open = false;
  }
}

/**
 * An env request that reached the message callback: null when it went past
 * its channel's caps (refused here), else what to call once it is granted.
 */
function envRequest(message: Message): { accepted(): void } | null | undefined {
  const channel = message.channel;
  if (!channel) return undefined;
  const core = channel[CHANNEL_CORE];
  const { name, value } = message.env;
  const bytes = envBytes(name, value);
  if (!core.envFits(bytes)) {
    message.replyDefault();
    return null;
  }
  return { accepted: () => core.envAccepted(bytes) };
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
  private readonly [SESSION_CORE]: SessionCore;

  private constructor(handle: Pointer) {
    this[SESSION_CORE] = new SessionCore(native(), handle, this);
  }

  /** Wraps a session `ssh_bind_accept_fd` filled in: the only way sessions are made (by `listen()`). */
  private static [SESSION_CORE](handle: Pointer): Session {
    return new Session(handle);
  }

  /**
   * Runs the key exchange without blocking. Resolves true when it succeeded,
   * false when it failed or the client went away (`getError()` tells why).
   */
  handleKeyExchange(): Promise<boolean> {
    return this[SESSION_CORE].live().keyExchange();
  }

  /** Sets the authentication methods offered to the client. */
  setAuthMethods(methods: readonly AuthMethod[]): void {
    const core = this[SESSION_CORE].live();
    core.backend.libssh.ssh_set_auth_methods(core.handle, authMethodMask(methods));
  }

  /** Installs server callbacks (replacing earlier ones); later changes to them take effect. */
  setServerCallbacks<U>(callbacks: ServerCallbacks<U>): void {
    const core = this[SESSION_CORE].live();
    const set = callbacks as ServerCallbacks;
    const struct = serverCallbackStruct(core.backend, new SessionServerHandlers(core, set));
    for (const [name, field] of SERVER_FIELDS) {
      struct.enable(field, set[name as ServerCallbackName] !== undefined);
    }
    const unobserve = observeCallbacks(set, (name, isSet) => {
      const field = SERVER_FIELDS.get(name);
      if (field) struct.enable(field, isSet);
    });
    core.installServerCallbacks(struct, unobserve);
  }

  /**
   * Handles requests that no server or channel callback took (keyboard-
   * interactive auth, direct-tcpip, global requests, …). `callback` returns
   * true to let libssh send its default reply (a refusal).
   */
  setMessageCallback<U>(callback: MessageCallback<U>, userdata?: U): void {
    const core = this[SESSION_CORE].live();
    if (typeof callback !== "function") throw new TypeError("the message callback must be a function");
    const handler = { callback: callback as MessageCallback<unknown>, userdata };
    core.onMessage = (message) => answerMessage(core, handler, message);
  }

  /** Where errors thrown by callbacks are reported (default: `console.error`). */
  set onError(handler: ErrorHandler) {
    if (typeof handler !== "function") throw new TypeError("onError must be a function");
    this[SESSION_CORE].onError = handler;
  }

  get onError(): ErrorHandler {
    return this[SESSION_CORE].onError;
  }

  /** Whether the connection is still up. */
  get isConnected(): boolean {
    const core = this[SESSION_CORE];
    return !core.closed && !core.disconnected;
  }

  /** Whether `close()` was called. */
  get isClosed(): boolean {
    return this[SESSION_CORE].closed;
  }

  /** Resolves when the connection ends: the client left, an error, or `close()`. */
  get disconnected(): Promise<void> {
    return this[SESSION_CORE].disconnectedPromise;
  }

  /** The client's address and port. */
  get peerAddress(): SocketAddress | null {
    return this[SESSION_CORE].live().peer;
  }

  /** The user name of the successful login, if any. */
  get user(): string | undefined {
    return this[SESSION_CORE].live().user;
  }

  /** Whether a client logged in. */
  get isAuthenticated(): boolean {
    return this[SESSION_CORE].live().authenticated;
  }

  /** The method of the successful login, if any. */
  get authMethod(): AuthMethod | undefined {
    return this[SESSION_CORE].live().authMethod;
  }

  /** The channels open on this session. */
  get channels(): SshChannel[] {
    return [...this[SESSION_CORE].live().channels.values()].map((channel) => channel.owner as SshChannel);
  }

  /** libssh's last error message for this session. */
  getError(): string {
    return this[SESSION_CORE].live().errorText();
  }

  /**
   * Disconnects and frees the session and its channels. Idempotent; safe
   * inside this session's own callbacks (the free waits until libssh returns).
   */
  close(): Promise<void> {
    return this[SESSION_CORE].close();
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
