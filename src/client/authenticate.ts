/**
 * Client authentication: each libssh `ssh_userauth_*` step driven without
 * blocking, and the OpenSSH order over the methods the caller gave and the
 * server lists.
 *
 * @module
 */

import { SSH_AUTH_AGAIN, SSH_AUTH_ERROR, SSH_OPTIONS_IDENTITY_AGENT } from "../../ffi/constants.ts";
import { cString } from "../../ffi/cstring.ts";
import { AuthMethod, AuthStatus } from "../auth.ts";
import { SshError } from "../errors.ts";
import { keyHandle, SshKey } from "../key.ts";
import type { ClientCore } from "./client_core.ts";

/** An authentication method by its protocol name. */
export type AuthMethodName =
  | "none"
  | "password"
  | "publickey"
  | "keyboard-interactive"
  | "hostbased"
  | "gssapi-with-mic";

const METHOD_BITS: Record<AuthMethodName, AuthMethod> = {
  "none": AuthMethod.None,
  "password": AuthMethod.Password,
  "publickey": AuthMethod.PublicKey,
  "keyboard-interactive": AuthMethod.Interactive,
  "hostbased": AuthMethod.HostBased,
  "gssapi-with-mic": AuthMethod.GssapiMic,
};

/** One question of a keyboard-interactive round. */
export interface KbdintPrompt {
  /** The question, e.g. `"Password: "`. */
  text: string;
  /** Whether the answer may be shown while typed. */
  echo: boolean;
}

/** A keyboard-interactive round: answer each prompt, in order. */
export interface KbdintRequest {
  /** The round's title (often empty). */
  name: string;
  /** What the server says to do (often empty). */
  instruction: string;
  /** The questions. */
  prompts: KbdintPrompt[];
}

/** Answers a keyboard-interactive round: one string per prompt. */
export type KbdintHandler = (request: KbdintRequest) => string[] | Promise<string[]>;

/**
 * The credentials to log in with. Methods are tried in OpenSSH's order,
 * only those the server lists: `none` first (which also asks for the list),
 * then each private key, the agent, keyboard-interactive and the password.
 * No key is read from `~/.ssh` unless given.
 */
export interface ClientAuth {
  /** No credentials: log in only if the server lets anyone in with "none". */
  none?: boolean;
  /** Private keys: `SshKey`s or key files (read with `passphrase`). */
  privateKey?: SshKey | string | (SshKey | string)[];
  /** The passphrase of encrypted key files. */
  passphrase?: string;
  /** Ask the SSH agent (`true`: `SSH_AUTH_SOCK`; a string: the agent's socket path). */
  agent?: boolean | string;
  /** Answers keyboard-interactive prompts. Without it, a password answers a lone hidden prompt. */
  kbdint?: KbdintHandler;
  /** The password, or a function asked for it when the server wants one. */
  password?: string | (() => string | Promise<string>);
  /** Only these methods are tried. */
  methods?: AuthMethodName[];
}

/**
 * Authentication failed: `methods` are those the server still accepts,
 * `partial` whether a method succeeded partially (the server wants more).
 *
 * @example
 * ```ts
 * import { AuthFailedError, connect } from "@libssh/libssh";
 *
 * try {
 *   await connect({ host: "example.com", auth: { password: "wrong" } });
 * } catch (e) {
 *   if (e instanceof AuthFailedError) console.log("the server accepts", e.methods);
 * }
 * ```
 */
export class AuthFailedError extends SshError {
  /** What the server still accepts. */
  readonly methods: AuthMethodName[];
  /** Whether a method succeeded partially. */
  readonly partial: boolean;

  /** Creates the error; the message lists `methods`. */
  constructor(message: string, methods: AuthMethodName[], partial: boolean) {
    super("auth-failed", `${message}; the server accepts: ${methods.join(", ") || "nothing more"}`);
    this.name = "AuthFailedError";
    this.methods = methods;
    this.partial = partial;
  }
}

/** The methods in a libssh bit mask, by name. */
export function methodNames(mask: number): AuthMethodName[] {
  return (Object.entries(METHOD_BITS) as [AuthMethodName, AuthMethod][])
    .filter(([, bit]) => (mask & bit) !== 0)
    .map(([name]) => name);
}

/** An auth result libssh may give, as an `AuthStatus`; a connection error throws. */
function status(core: ClientCore, rc: number, what: string): AuthStatus {
  if (rc === SSH_AUTH_ERROR) {
    if (core.disconnected || core.closed) throw core.disconnectedError();
    core.check(rc, what);
  }
  return rc as AuthStatus;
}

/** Runs one auth call until libssh no longer answers SSH_AUTH_AGAIN. */
async function step(
  core: ClientCore,
  what: string,
  fn: () => number,
  signal?: AbortSignal,
): Promise<AuthStatus> {
  return status(core, await core.untilDone(fn, SSH_AUTH_AGAIN, signal), what);
}

/** `ssh_userauth_none`: also fetches the list of methods. */
export function userauthNone(core: ClientCore, signal?: AbortSignal): Promise<AuthStatus> {
  const { libssh } = core.backend;
  return step(core, "none authentication", () => libssh.ssh_userauth_none(core.handle, null), signal);
}

/** The methods the server accepts (after a first attempt, e.g. `userauthNone`). */
export function userauthList(core: ClientCore): AuthMethodName[] {
  core.assertConnected();
  return methodNames(core.backend.libssh.ssh_userauth_list(core.handle, null));
}

/** `ssh_userauth_password`. */
export function userauthPassword(
  core: ClientCore,
  password: string,
  signal?: AbortSignal,
): Promise<AuthStatus> {
  if (typeof password !== "string") throw new TypeError("the password must be a string");
  const { libssh } = core.backend;
  const text = cString(password);
  return step(
    core,
    "password authentication",
    () => libssh.ssh_userauth_password(core.handle, null, text),
    signal,
  );
}

/** `ssh_userauth_try_publickey`: whether the server would accept `key` (Success), without signing. */
export function userauthTryPublicKey(
  core: ClientCore,
  key: SshKey,
  signal?: AbortSignal,
): Promise<AuthStatus> {
  const handle = keyHandle(key);
  const { libssh } = core.backend;
  return step(
    core,
    "public key query",
    () => libssh.ssh_userauth_try_publickey(core.handle, null, handle),
    signal,
  );
}

/** `ssh_userauth_publickey`: signs with the private `key`. */
export function userauthPublicKey(core: ClientCore, key: SshKey, signal?: AbortSignal): Promise<AuthStatus> {
  if (!key.isPrivate) throw new TypeError("public key authentication needs the private key");
  const handle = keyHandle(key);
  const { libssh } = core.backend;
  return step(
    core,
    "public key authentication",
    () => libssh.ssh_userauth_publickey(core.handle, null, handle),
    signal,
  );
}

/** Rejects with the signal's reason as soon as it aborts; `work` goes on regardless. */
function unlessAborted<T>(work: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return work;
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * `ssh_userauth_agent`, on a worker thread: libssh waits for the agent with
 * a blocking poll whatever the session's mode. Each call may answer
 * SSH_AUTH_AGAIN while the server's reply is pending; the reply is awaited
 * on the JS thread as usual.
 */
export async function userauthAgent(
  core: ClientCore,
  socketPath?: string,
  signal?: AbortSignal,
): Promise<AuthStatus> {
  const { libssh } = core.backend;
  if (socketPath !== undefined) {
    core.check(
      libssh.ssh_options_set(core.handle, SSH_OPTIONS_IDENTITY_AGENT, cString(socketPath)),
      "setting the agent socket",
    );
  }
  for (;;) {
    if (signal?.aborted) throw signal.reason;
    const rc = await unlessAborted(
      core.onWorkerThread(() => libssh.ssh_userauth_agent(core.handle, null)),
      signal,
    );
    if (rc !== SSH_AUTH_AGAIN) return status(core, rc, "agent authentication");
    await core.nextRound(signal);
  }
}

/** The prompts of the keyboard-interactive round libssh received. */
function kbdintRequest(core: ClientCore): KbdintRequest {
  const { backend } = core;
  const { libssh } = backend;
  const count = libssh.ssh_userauth_kbdint_getnprompts(core.handle);
  const prompts: KbdintPrompt[] = [];
  const echo = new Uint8Array(1);
  for (let i = 0; i < count; i++) {
    const text = backend.readCString(libssh.ssh_userauth_kbdint_getprompt(core.handle, i, echo)) ?? "";
    prompts.push({ text, echo: echo[0] !== 0 });
  }
  return {
    name: backend.readCString(libssh.ssh_userauth_kbdint_getname(core.handle)) ?? "",
    instruction: backend.readCString(libssh.ssh_userauth_kbdint_getinstruction(core.handle)) ?? "",
    prompts,
  };
}

/** Keyboard-interactive rounds until the server decides; `answer` answers each round. */
export async function userauthKbdint(
  core: ClientCore,
  answer: KbdintHandler,
  signal?: AbortSignal,
): Promise<AuthStatus> {
  const { libssh } = core.backend;
  const kbdint = (): number => libssh.ssh_userauth_kbdint(core.handle, null, null);
  let result = await step(core, "keyboard-interactive authentication", kbdint, signal);
  while (result === AuthStatus.Info) {
    const request = kbdintRequest(core);
    const answers = await answer(request);
    if (!Array.isArray(answers) || answers.length !== request.prompts.length) {
      throw new TypeError(`kbdint must answer each of the ${request.prompts.length} prompts with a string`);
    }
    core.assertConnected();
    answers.forEach((text, i) => {
      if (typeof text !== "string") throw new TypeError("kbdint answers must be strings");
      const rc = libssh.ssh_userauth_kbdint_setanswer(core.handle, i, cString(text));
      if (rc < 0) core.check(rc, "setting a keyboard-interactive answer");
    });
    result = await step(core, "keyboard-interactive authentication", kbdint, signal);
  }
  return result;
}

/** Answers a lone hidden prompt with the password (what PAM's keyboard-interactive asks). */
function passwordAnswers(password: () => Promise<string>): KbdintHandler {
  return async (request) => {
    if (request.prompts.length === 0) return [];
    if (request.prompts.length === 1 && !request.prompts[0].echo) return [await password()];
    throw new AuthFailedError(
      `keyboard-interactive asked ${request.prompts.map((p) => JSON.stringify(p.text)).join(", ")} ` +
        "and only a password was given (pass auth.kbdint)",
      [],
      false,
    );
  };
}

function keyList(auth: ClientAuth): (SshKey | string)[] {
  const keys = auth.privateKey;
  if (keys === undefined) return [];
  const list = Array.isArray(keys) ? keys : [keys];
  for (const key of list) {
    if (!(key instanceof SshKey) && typeof key !== "string") {
      throw new TypeError("auth.privateKey takes SshKey objects and key file paths");
    }
  }
  return list;
}

/** Checks an `auth` option; throws TypeError on a bad field. */
export function checkAuth(auth: ClientAuth): void {
  if (typeof auth !== "object" || auth === null) throw new TypeError("auth must be an object");
  keyList(auth);
  if (
    auth.password !== undefined && typeof auth.password !== "string" && typeof auth.password !== "function"
  ) {
    throw new TypeError("auth.password must be a string or a function");
  }
  if (auth.kbdint !== undefined && typeof auth.kbdint !== "function") {
    throw new TypeError("auth.kbdint must be a function");
  }
  if (auth.agent !== undefined && typeof auth.agent !== "boolean" && typeof auth.agent !== "string") {
    throw new TypeError("auth.agent must be a boolean or the agent's socket path");
  }
  for (const method of auth.methods ?? []) {
    if (!(method in METHOD_BITS)) throw new TypeError(`unknown auth method ${JSON.stringify(method)}`);
  }
}

/**
 * Logs in with `auth`: resolves once the server accepted, rejects with an
 * `AuthFailedError` when every applicable method was refused.
 */
export async function authenticate(core: ClientCore, auth: ClientAuth, signal?: AbortSignal): Promise<void> {
  checkAuth(auth);
  const wanted = auth.methods;
  const tried: string[] = [];
  let partial = false;
  let offered = AuthMethod.None as number;
  const allowed = (method: AuthMethodName): boolean =>
    (offered & METHOD_BITS[method]) !== 0 && (wanted === undefined || wanted.includes(method));
  /** Runs one attempt; true once logged in. */
  const attempt = (result: AuthStatus): boolean => {
    if (result === AuthStatus.Success) return true;
    if (result === AuthStatus.Partial) partial = true;
    offered = core.backend.libssh.ssh_userauth_list(core.handle, null);
    return false;
  };

  if (attempt(await userauthNone(core, signal))) return;
  tried.push("none");

  for (const entry of keyList(auth)) {
    if (!allowed("publickey")) break;
    const key = typeof entry === "string" ? SshKey.fromFile(entry, { passphrase: auth.passphrase }) : entry;
    try {
      if (!key.isPrivate) throw new TypeError("auth.privateKey must be private keys");
      tried.push(`publickey ${key.algorithm} ${key.fingerprint()}`);
      if (await userauthTryPublicKey(core, key, signal) !== AuthStatus.Success) continue;
      if (attempt(await userauthPublicKey(core, key, signal))) return;
    } finally {
      if (key !== entry) key.close();
    }
  }

  if (auth.agent && allowed("publickey")) {
    tried.push("agent");
    // true: libssh asks the agent of SSH_AUTH_SOCK.
    if (attempt(await userauthAgent(core, auth.agent === true ? undefined : auth.agent, signal))) return;
  }

  const password = auth.password;
  const askPassword = async (): Promise<string> => {
    const text = typeof password === "function" ? await password() : password;
    if (typeof text !== "string") throw new TypeError("auth.password must give a string");
    return text;
  };
  const kbdint = auth.kbdint ??
    (password !== undefined && !allowed("password") ? passwordAnswers(askPassword) : undefined);
  if (kbdint && allowed("keyboard-interactive")) {
    tried.push("keyboard-interactive");
    if (attempt(await userauthKbdint(core, kbdint, signal))) return;
  }

  if (password !== undefined && allowed("password")) {
    tried.push("password");
    if (attempt(await userauthPassword(core, await askPassword(), signal))) return;
  }

  const left = methodNames(offered).filter((name) => name !== "none");
  throw new AuthFailedError(
    `authentication failed${tried.length > 1 ? `; tried ${tried.join(", ")}` : " with no credentials"}`,
    left,
    partial,
  );
}
