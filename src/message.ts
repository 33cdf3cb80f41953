/**
 * Requests that reach the message callback (`ssh_message`).
 *
 * @module
 */

import type { Libssh, Pointer } from "../ffi/backend.ts";
import * as c from "../ffi/constants.ts";
import { cString, cStringArray } from "../ffi/cstring.ts";
import { AuthMethod, authMethodMask, PublicKeyState } from "./auth.ts";
import { CHANNEL_CORE } from "./_channel_core.ts";
import { type MessageAnswer, SESSION_CORE, type SessionCore } from "./_session_core.ts";
import { SshChannel } from "./channel.ts";
import { closedError } from "./errors.ts";
import { keyFromHandle, type SshKey } from "./key.ts";
import type { Session } from "./session.ts";

/**
 * The kinds of request a client sends, with libssh's values.
 *
 * @example
 * ```ts
 * import { type Message, RequestType } from "@libssh/libssh";
 *
 * const isAuth = (message: Message) => message.type === RequestType.Auth;
 * ```
 */
export enum RequestType {
  Auth = 1, // SSH_REQUEST_AUTH
  ChannelOpen = 2, // SSH_REQUEST_CHANNEL_OPEN
  Channel = 3, // SSH_REQUEST_CHANNEL
  Service = 4, // SSH_REQUEST_SERVICE
  Global = 5, // SSH_REQUEST_GLOBAL
}

/**
 * Channel types of a `RequestType.ChannelOpen` message (its `subtype`).
 *
 * @example
 * ```ts
 * import { ChannelType, type Message } from "@libssh/libssh";
 *
 * const isForward = (message: Message) => message.subtype === ChannelType.DirectTcpip;
 * ```
 */
export enum ChannelType {
  Unknown = 0, // SSH_CHANNEL_UNKNOWN
  Session = 1, // SSH_CHANNEL_SESSION
  DirectTcpip = 2, // SSH_CHANNEL_DIRECT_TCPIP
  ForwardedTcpip = 3, // SSH_CHANNEL_FORWARDED_TCPIP
  X11 = 4, // SSH_CHANNEL_X11
  AuthAgent = 5, // SSH_CHANNEL_AUTH_AGENT
}

/**
 * Global request types of a `RequestType.Global` message (its `subtype`).
 *
 * @example
 * ```ts
 * import { GlobalRequestType, type Message } from "@libssh/libssh";
 *
 * const isForwardRequest = (message: Message) => message.subtype === GlobalRequestType.TcpipForward;
 * ```
 */
export enum GlobalRequestType {
  Unknown = 0, // SSH_GLOBAL_REQUEST_UNKNOWN
  TcpipForward = 1, // SSH_GLOBAL_REQUEST_TCPIP_FORWARD
  CancelTcpipForward = 2, // SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD
  Keepalive = 3, // SSH_GLOBAL_REQUEST_KEEPALIVE
}

/**
 * Channel request types of a `RequestType.Channel` message (its `subtype`).
 *
 * @example
 * ```ts
 * import { ChannelRequestType, type Message } from "@libssh/libssh";
 *
 * const isExec = (message: Message) => message.subtype === ChannelRequestType.Exec;
 * ```
 */
export enum ChannelRequestType {
  Unknown = 0, // SSH_CHANNEL_REQUEST_UNKNOWN
  Pty = 1, // SSH_CHANNEL_REQUEST_PTY
  Exec = 2, // SSH_CHANNEL_REQUEST_EXEC
  Shell = 3, // SSH_CHANNEL_REQUEST_SHELL
  Env = 4, // SSH_CHANNEL_REQUEST_ENV
  Subsystem = 5, // SSH_CHANNEL_REQUEST_SUBSYSTEM
  WindowChange = 6, // SSH_CHANNEL_REQUEST_WINDOW_CHANGE
  X11 = 7, // SSH_CHANNEL_REQUEST_X11
}

/**
 * The message callback: return true to let libssh send its default reply
 * (a refusal), false when you replied (or mean to send nothing). Replying
 * through a `Message` method counts as handled whatever you return.
 */
export type MessageCallback<U = unknown> = (session: Session, message: Message, userdata: U) => boolean;

/** One prompt of a keyboard-interactive request. */
export interface InteractivePrompt {
  /** The text shown, e.g. `"Password: "`. */
  prompt: string;
  /** Whether the client may echo the answer (default false). */
  echo?: boolean;
}

/** Options of `Message.sendInteractivePrompts`. */
export interface InteractiveRequest {
  /** Title of the request (may be empty). */
  name?: string;
  /** Instruction shown before the prompts (may be empty). */
  instruction?: string;
  /** The prompts, answered in this order. */
  prompts: InteractivePrompt[];
}

/** A host and port of a channel open or a forwarding request. */
export interface Endpoint {
  /** Host name or address. */
  host: string;
  /** TCP port. */
  port: number;
}

/**
 * A client request that reached the message callback. Valid only during the
 * callback: libssh frees it when the callback returns, so every method throws
 * `SshError` `"closed"` afterwards. libssh 0.10 has no way to answer such a
 * message later.
 *
 * @example Keyboard-interactive auth
 * ```ts
 * import { AuthMethod, type Message, RequestType } from "@libssh/libssh";
 *
 * function onMessage(_session: unknown, message: Message): boolean {
 *   if (message.type !== RequestType.Auth || message.subtype !== AuthMethod.Interactive) return true;
 *   if (!message.isKbdintResponse) {
 *     message.sendInteractivePrompts({ prompts: [{ prompt: "Password: " }, { prompt: "Token: " }] });
 *   } else if (message.kbdintAnswers.join() === "foo,bar") {
 *     message.replyAuthSuccess();
 *   } else {
 *     message.replyDefault();
 *   }
 *   return false;
 * }
 * ```
 */
export class Message {
  readonly #session: SessionCore;
  readonly #handle: Pointer;
  readonly #answer: MessageAnswer;

  private constructor(session: SessionCore, answer: MessageAnswer) {
    this.#session = session;
    this.#handle = answer.handle;
    this.#answer = answer;
  }

  /** The message for `answer`, made by the session's message dispatch; valid while `answer.open`. */
  private static [SESSION_CORE](session: SessionCore, answer: MessageAnswer): Message {
    return new Message(session, answer);
  }

  #live(): Pointer {
    if (!this.#answer.open) throw closedError("Message (it is only valid inside the message callback)");
    return this.#handle;
  }

  #string(fn: (handle: Pointer) => Pointer): string {
    const backend = this.#session.backend;
    return backend.readCString(fn(this.#live())) ?? "";
  }

  #reply(what: string, fn: () => number): void {
    this.#live();
    if (this.#answer.replied) throw new TypeError(`${what}: the message was already answered`);
    const rc = this.#session.call(fn);
    this.#session.updateInterest();
    this.#session.check(rc, what);
    // Only a reply libssh sent counts: after a failed one the default refusal still goes out, so the client
    // is answered instead of left waiting.
    this.#answer.replied = true;
  }

  get #libssh(): Libssh {
    return this.#session.backend.libssh;
  }

  /** What kind of request this is. */
  get type(): RequestType {
    return this.#libssh.ssh_message_type(this.#live());
  }

  /**
   * The request's subtype: an `AuthMethod` for auth, a `ChannelType` for
   * channel opens, a `ChannelRequestType` or `GlobalRequestType`.
   */
  get subtype(): number {
    return this.#libssh.ssh_message_subtype(this.#live());
  }

  /**
   * The user name of an auth request. For keyboard-interactive answers, the
   * user the prompts were sent to.
   */
  get authUser(): string {
    const user = this.#string((m) => this.#libssh.ssh_message_auth_user(m));
    const interactive = this.type === RequestType.Auth && this.subtype === AuthMethod.Interactive;
    if (user !== "" || !interactive || !this.isKbdintResponse) return user;
    return this.#session.interactiveUser ?? "";
  }

  /** The password of a password auth request. */
  get authPassword(): string {
    return this.#string((m) => this.#libssh.ssh_message_auth_password(m));
  }

  /** The public key of a public key auth request (a copy you own). */
  get authPublicKey(): SshKey {
    const key = this.#libssh.ssh_message_auth_pubkey(this.#live());
    if (key === null) {
      throw new TypeError("the message carries no public key (it is no public key auth request)");
    }
    return keyFromHandle(this.#libssh.ssh_key_dup(key));
  }

  /** Whether the public key request carries a verified signature. */
  get authPublicKeyState(): PublicKeyState {
    return this.#libssh.ssh_message_auth_publickey_state(this.#live());
  }

  /** Whether a keyboard-interactive request carries answers to earlier prompts. */
  get isKbdintResponse(): boolean {
    return this.#libssh.ssh_message_auth_kbdint_is_response(this.#live()) !== 0;
  }

  /** The answers of a keyboard-interactive response, in prompt order. */
  get kbdintAnswers(): string[] {
    this.#live();
    const { libssh } = this.#session.backend;
    const count = libssh.ssh_userauth_kbdint_getnanswers(this.#session.handle);
    const answers: string[] = [];
    for (let i = 0; i < count; i++) {
      answers.push(
        this.#session.backend.readCString(libssh.ssh_userauth_kbdint_getanswer(this.#session.handle, i)) ??
          "",
      );
    }
    return answers;
  }

  /** Sends keyboard-interactive prompts; the answers come in a later message. */
  sendInteractivePrompts(request: InteractiveRequest): void {
    if (!Array.isArray(request?.prompts)) throw new TypeError("prompts must be an array");
    const backend = this.#session.backend;
    this.#session.interactiveUser = this.authUser;
    const prompts = cStringArray(backend, request.prompts.map((p) => p.prompt));
    const echo = new Uint8Array(request.prompts.map((p) => p.echo ? 1 : 0));
    this.#reply(
      "sending keyboard-interactive prompts",
      () =>
        backend.libssh.ssh_message_auth_interactive_request(
          this.#handle,
          cString(request.name ?? ""),
          cString(request.instruction ?? ""),
          request.prompts.length,
          prompts.array,
          echo,
        ),
    );
  }

  /** Accepts an auth request (`partial`: more methods are still required). */
  replyAuthSuccess(options?: { partial?: boolean }): void {
    const user = this.authUser;
    const method = this.subtype as AuthMethod;
    this.#reply(
      "accepting the login",
      () => this.#libssh.ssh_message_auth_reply_success(this.#handle, options?.partial ? 1 : 0),
    );
    if (!options?.partial) this.#session.authenticatedBy(user, method);
  }

  /**
   * Tells the client its public key would be accepted (it then signs). Only
   * for a public key auth request without a signature (the client's probe,
   * `authPublicKeyState === PublicKeyState.None`); anything else throws
   * `TypeError`.
   */
  replyPublicKeyOk(): void {
    const probe = this.type === RequestType.Auth && this.subtype === AuthMethod.PublicKey &&
      this.authPublicKeyState === PublicKeyState.None;
    if (!probe) {
      throw new TypeError("replyPublicKeyOk answers a public key probe (a key without a signature) only");
    }
    this.#reply(
      "accepting the public key",
      () => this.#libssh.ssh_message_auth_reply_pk_ok_simple(this.#handle),
    );
  }

  /** Sets the methods listed in a refusal of this auth request. */
  setAuthMethods(methods: readonly AuthMethod[]): void {
    const mask = authMethodMask(methods);
    this.#session.check(
      this.#libssh.ssh_message_auth_set_methods(this.#live(), mask),
      "setting the auth methods",
    );
  }

  /** The destination of a direct-tcpip channel open. */
  get destination(): Endpoint {
    return {
      host: this.#string((m) => this.#libssh.ssh_message_channel_request_open_destination(m)),
      port: this.#libssh.ssh_message_channel_request_open_destination_port(this.#live()),
    };
  }

  /** The originator of a channel open. */
  get originator(): Endpoint {
    return {
      host: this.#string((m) => this.#libssh.ssh_message_channel_request_open_originator(m)),
      port: this.#libssh.ssh_message_channel_request_open_originator_port(this.#live()),
    };
  }

  /** Accepts a channel open and returns the new channel. */
  acceptChannelOpen(): SshChannel {
    let channel: Pointer = null;
    this.#reply("accepting the channel", () => {
      channel = this.#libssh.ssh_message_channel_request_open_reply_accept(this.#handle);
      return channel === null ? c.SSH_ERROR : c.SSH_OK;
    });
    return SshChannel[CHANNEL_CORE](this.#session, channel);
  }

  /** The channel a channel request is for, if it is one of ours. */
  get channel(): SshChannel | undefined {
    const handle = this.#libssh.ssh_message_channel_request_channel(this.#live());
    if (handle === null) return undefined;
    return this.#session.channels.get(this.#session.backend.address(handle))?.owner as SshChannel | undefined;
  }

  /** The command of an exec request. */
  get command(): string {
    return this.#string((m) => this.#libssh.ssh_message_channel_request_command(m));
  }

  /** The subsystem of a subsystem request. */
  get subsystem(): string {
    return this.#string((m) => this.#libssh.ssh_message_channel_request_subsystem(m));
  }

  /** The variable of an env request. */
  get env(): { name: string; value: string } {
    return {
      name: this.#string((m) => this.#libssh.ssh_message_channel_request_env_name(m)),
      value: this.#string((m) => this.#libssh.ssh_message_channel_request_env_value(m)),
    };
  }

  /** Accepts a channel request. */
  replyChannelRequestSuccess(): void {
    this.#reply(
      "accepting the request",
      () => this.#libssh.ssh_message_channel_request_reply_success(this.#handle),
    );
  }

  /** The service of a service request. */
  get service(): string {
    return this.#string((m) => this.#libssh.ssh_message_service_service(m));
  }

  /** Accepts a service request. */
  replyServiceSuccess(): void {
    this.#reply("accepting the service", () => this.#libssh.ssh_message_service_reply_success(this.#handle));
  }

  /** The address and port of a (cancel-)tcpip-forward request. */
  get globalEndpoint(): Endpoint {
    return {
      host: this.#string((m) => this.#libssh.ssh_message_global_request_address(m)),
      port: this.#libssh.ssh_message_global_request_port(this.#live()),
    };
  }

  /** Accepts a global request; for tcpip-forward with port 0, pass the port you bound. */
  replyGlobalSuccess(boundPort?: number): void {
    const port = boundPort ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError("boundPort must be from 0 to 65535");
    }
    this.#reply(
      "accepting the global request",
      () => this.#libssh.ssh_message_global_request_reply_success(this.#handle, port),
    );
  }

  /** Sends libssh's default reply: a refusal (for auth, listing the allowed methods). */
  replyDefault(): void {
    this.#reply("refusing the request", () => this.#libssh.ssh_message_reply_default(this.#handle));
    this.#answer.refused = true;
  }

  /** Compatibility (LibSSH.jl): the same as `replyDefault()`. */
  deny(): void {
    this.replyDefault();
  }
}
