/**
 * The SSH client: `connect()` and `ClientSession`, on the same non-blocking
 * core as the server: every libssh call on the JS thread, packets processed
 * by the reactor, host keys checked against known_hosts by default.
 *
 * @module
 */

import process from "node:process";
import type { Pointer } from "../ffi/backend.ts";
import {
  SSH_AGAIN,
  SSH_OK,
  SSH_OPTIONS_CIPHERS_C_S,
  SSH_OPTIONS_CIPHERS_S_C,
  SSH_OPTIONS_COMPRESSION,
  SSH_OPTIONS_FD,
  SSH_OPTIONS_GLOBAL_KNOWNHOSTS,
  SSH_OPTIONS_HMAC_C_S,
  SSH_OPTIONS_HMAC_S_C,
  SSH_OPTIONS_HOST,
  SSH_OPTIONS_HOSTKEYS,
  SSH_OPTIONS_KEY_EXCHANGE,
  SSH_OPTIONS_KNOWNHOSTS,
  SSH_OPTIONS_LOG_VERBOSITY,
  SSH_OPTIONS_PORT,
  SSH_OPTIONS_PROCESS_CONFIG,
  SSH_OPTIONS_PUBLICKEY_ACCEPTED_TYPES,
  SSH_OPTIONS_STRICTHOSTKEYCHECK,
  SSH_OPTIONS_USER,
} from "../ffi/constants.ts";
import { cString, PointerCell } from "../ffi/cstring.ts";
import { closeFd } from "../ffi/fd.ts";
import { native } from "./_native.ts";
import type { AuthStatus } from "./auth.ts";
import { closedError, SshError } from "./errors.ts";
import type { SshKey } from "./key.ts";
import type { ErrorHandler } from "./_libssh_session.ts";
import {
  authenticate,
  type AuthMethodName,
  checkAuth,
  type ClientAuth,
  type KbdintHandler,
  userauthAgent,
  userauthKbdint,
  userauthList,
  userauthNone,
  userauthPassword,
  userauthPublicKey,
  userauthTryPublicKey,
} from "./client/authenticate.ts";
import { type ChannelState, type ClientChannel, openChannel } from "./client/client_channel.ts";
import { ClientCore } from "./client/client_core.ts";
import {
  type DirectTcpipOptions,
  forwardLocal,
  type LocalForward,
  type LocalForwardOptions,
  openDirectTcpip,
  type RemoteForward,
  type RemoteForwardOptions,
  RemoteForwards,
} from "./client/forwarding.ts";
import {
  checkHostKey,
  type HostKeyPolicy,
  type KnownHosts,
  knownHostsEntry,
  knownHostsFiles,
  knownHostsStatus,
  serverKey,
  updateKnownHosts,
} from "./client/host_key.ts";
import { AgentRelay, agentSocketPath } from "./client/agent_forwarding.ts";
import { checkKeepalive, type KeepaliveOptions, startKeepalive } from "./client/keepalive.ts";
import {
  checkExecOptions,
  type CompletedProcess,
  completion,
  type ExecOptions,
  type RunOptions,
  SshProcess,
  startCommand,
  stopper,
} from "./client/process.ts";
import { type AddressFamily, connectTcp, jumpSocket } from "./client/transport.ts";
import { SftpClient } from "./sftp/client.ts";
import type { SftpClientOptions } from "./sftp/_session.ts";

/** Algorithm lists (comma-separated, in order of preference) instead of libssh's defaults. */
export interface ClientAlgorithms {
  /** Key exchange, e.g. `"curve25519-sha256"`. */
  kex?: string;
  /** Ciphers both ways, e.g. `"aes128-gcm@openssh.com"`. */
  ciphers?: string;
  /** MACs both ways. */
  hmac?: string;
  /** Host key algorithms accepted from the server, e.g. `"ssh-ed25519"`. */
  hostKey?: string;
  /** Signature algorithms offered for public key auth. */
  publicKey?: string;
}

/** Options of `connect()` and `new ClientSession()`. */
export interface ClientOptions {
  /** The server's name or address. */
  host: string;
  /** Default 22. */
  port?: number;
  /** Default: the user running this process. */
  user?: string;
  /** How the server's host key is checked (see `HostKeyPolicy`). Default: `~/.ssh/known_hosts`, unknown hosts refused. */
  hostKey?: HostKeyPolicy;
  /** Credentials (see `ClientAuth`). Default: the SSH agent when `SSH_AUTH_SOCK` is set, else none. */
  auth?: ClientAuth;
  /** Milliseconds for the TCP connect, key exchange, host key check and login, together. Default 20000. */
  connectTimeout?: number;
  /** Aborts the connect (`SshError` `"aborted"`); aborted later, it closes the session. */
  signal?: AbortSignal;
  /** Only this address family. Default: any, in the resolver's order. */
  family?: AddressFamily;
  /** Local address to connect from. */
  localAddress?: string;
  /** Connect through this session (a jump host, `ssh -J`): the target's host key is checked as usual. */
  via?: ClientSession;
  /** A connected socket to use instead of connecting (it stays yours: close it after the session). */
  fd?: number;
  /** Keepalive requests when the server is quiet; off by default. */
  keepalive?: KeepaliveOptions;
  /**
   * Forward the local SSH agent to the commands of `run`, `spawn` and
   * `shell` (`ssh -A`): `true` for `SSH_AUTH_SOCK`'s agent, or its socket
   * path. Off by default; only for servers you trust with your keys' use.
   */
  agentForwarding?: boolean | string;
  /** Algorithms instead of libssh's defaults. */
  algorithms?: ClientAlgorithms;
  /** zlib compression. Default false. */
  compression?: boolean;
  /** libssh's log level on stderr, 0 (none, the default) to 4. */
  logVerbosity?: number;
  /** Where errors thrown by your callbacks go (default: `console.error`). */
  onError?: ErrorHandler;
}

/** Options of `ClientSession.connect` and `authenticate`. */
export interface ConnectOptions {
  /** Aborts the operation (`SshError` `"aborted"`). */
  signal?: AbortSignal;
}

const DEFAULT_CONNECT_TIMEOUT = 20_000;
/** `SSH_OPTIONS_FD` keeps the low 16 bits of the descriptor (libssh options.c). */
const MAX_FD = 0xffff;

function defaultAuth(): ClientAuth {
  try {
    return process.env.SSH_AUTH_SOCK ? { agent: true } : {};
  } catch {
    return {}; // Deno without --allow-env: no agent
  }
}

/** A signal that aborts with `SshError` `"timeout"` after `ms`, or `"aborted"` with `signal`. */
function deadline(ms: number, signal?: AbortSignal): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () =>
      controller.abort(
        new SshError("timeout", `not connected and logged in after ${ms} ms (connectTimeout)`),
      ),
    ms,
  );
  const onAbort = (): void =>
    controller.abort(new SshError("aborted", "the connect was aborted", { cause: signal?.reason }));
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    },
  };
}

function checkOptions(options: ClientOptions): void {
  if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
  if (typeof options.host !== "string" || options.host === "") {
    throw new TypeError("host must be a name or address");
  }
  const port = options.port ?? 22;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError("port must be an integer from 1 to 65535");
  }
  if (options.user !== undefined && (typeof options.user !== "string" || options.user === "")) {
    throw new TypeError("user must be a non-empty string");
  }
  knownHostsFiles(options.hostKey);
  if (options.auth !== undefined) checkAuth(options.auth);
  const timeout = options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT;
  if (!Number.isFinite(timeout) || timeout <= 0) {
    throw new RangeError("connectTimeout must be a positive number of ms");
  }
  if (options.family !== undefined && options.family !== "IPv4" && options.family !== "IPv6") {
    throw new TypeError(`family must be "IPv4" or "IPv6", not ${String(options.family)}`);
  }
  if (options.fd !== undefined && (!Number.isInteger(options.fd) || options.fd < 0)) {
    throw new TypeError("fd must be a descriptor number");
  }
  if (options.via !== undefined && !(options.via instanceof ClientSession)) {
    throw new TypeError("via must be a ClientSession");
  }
  if (options.fd !== undefined && options.via !== undefined) throw new TypeError("give fd or via, not both");
  if (options.keepalive !== undefined) checkKeepalive(options.keepalive);
  const verbosity = options.logVerbosity ?? 0;
  if (!Number.isInteger(verbosity) || verbosity < 0 || verbosity > 4) {
    throw new RangeError("logVerbosity must be from 0 to 4");
  }
  if (options.onError !== undefined && typeof options.onError !== "function") {
    throw new TypeError("onError must be a function");
  }
}

/** Sets one session option; throws with libssh's message when refused. */
function setOption(
  handle: Pointer,
  option: number,
  value: Uint8Array<ArrayBuffer> | Int32Array<ArrayBuffer>,
  what: string,
): void {
  const backend = native();
  if (backend.libssh.ssh_options_set(handle, option, value) !== SSH_OK) {
    throw new SshError("libssh", `setting ${what} failed`, {
      libsshMessage: backend.readCString(backend.libssh.ssh_get_error(handle)) ?? "",
    });
  }
}

const int = (value: number): Int32Array<ArrayBuffer> => new Int32Array([value]);

/** Every session option, before `ssh_connect`. */
function applyOptions(handle: Pointer, options: ClientOptions, fd: number): void {
  // Never ~/.ssh/config: ProxyCommand and Match exec fork, StrictHostKeyChecking no turns checks off.
  setOption(handle, SSH_OPTIONS_PROCESS_CONFIG, int(0), "config processing");
  setOption(handle, SSH_OPTIONS_HOST, cString(options.host), "the host");
  setOption(handle, SSH_OPTIONS_PORT, int(options.port ?? 22), "the port");
  if (options.user !== undefined) setOption(handle, SSH_OPTIONS_USER, cString(options.user), "the user");
  setOption(handle, SSH_OPTIONS_FD, int(fd), "the socket");
  setOption(handle, SSH_OPTIONS_STRICTHOSTKEYCHECK, int(1), "strict host key checking");
  const files = knownHostsFiles(options.hostKey);
  if (files.knownHosts !== undefined) {
    setOption(handle, SSH_OPTIONS_KNOWNHOSTS, cString(files.knownHosts), "knownHosts");
  }
  if (files.global !== undefined) {
    setOption(
      handle,
      SSH_OPTIONS_GLOBAL_KNOWNHOSTS,
      cString(files.global === false ? "/dev/null" : files.global),
      "global",
    );
  }
  const algorithms = options.algorithms ?? {};
  const lists: [number[], string | undefined, string][] = [
    [[SSH_OPTIONS_KEY_EXCHANGE], algorithms.kex, "key exchange algorithms"],
    [[SSH_OPTIONS_CIPHERS_C_S, SSH_OPTIONS_CIPHERS_S_C], algorithms.ciphers, "ciphers"],
    [[SSH_OPTIONS_HMAC_C_S, SSH_OPTIONS_HMAC_S_C], algorithms.hmac, "MACs"],
    [[SSH_OPTIONS_HOSTKEYS], algorithms.hostKey, "host key algorithms"],
    [[SSH_OPTIONS_PUBLICKEY_ACCEPTED_TYPES], algorithms.publicKey, "public key algorithms"],
  ];
  for (const [ids, value, what] of lists) {
    if (value === undefined) continue;
    if (typeof value !== "string" || value === "") throw new TypeError(`algorithms: ${what} must be a list`);
    for (const id of ids) setOption(handle, id, cString(value), what);
  }
  setOption(handle, SSH_OPTIONS_COMPRESSION, cString(options.compression ? "yes" : "no"), "compression");
  setOption(handle, SSH_OPTIONS_LOG_VERBOSITY, int(options.logVerbosity ?? 0), "the log level");
}

/** Rejects with the signal's reason as soon as it aborts; `work` goes on regardless. */
function unlessAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

let establish: (session: ClientSession, signal: AbortSignal, auth: ClientAuth | undefined) => Promise<void>;

/**
 * A connection to an SSH server, as a client (LibSSH.jl's `Session`).
 * `connect()` makes one and logs in; or make one with `new ClientSession()`
 * and call `connect()` (transport, key exchange, host key check), then
 * `authenticate()` or the `userauth*` steps.
 *
 * Every libssh call runs on the JS thread without blocking; the reactor
 * processes the session's packets. Close it (or `await using`) to disconnect;
 * every method but `close()` then throws `SshError` `"closed"`.
 *
 * @example
 * ```ts
 * import { ClientSession } from "@libssh/libssh";
 *
 * await using ssh = new ClientSession({ host: "example.com", user: "me" });
 * await ssh.connect();
 * console.log(ssh.serverBanner, ssh.knownHostsEntry());
 * await ssh.authenticate({ privateKey: "/home/me/.ssh/id_ed25519" });
 * console.log((await ssh.run("uptime")).stdoutText);
 * ```
 */
export class ClientSession {
  readonly #options: ClientOptions;
  #core: ClientCore | undefined;
  #closed = false;
  #connecting = false;
  #forwards: RemoteForwards | undefined;
  /** The local agent's socket when `agentForwarding` is on. */
  readonly #agentSocket: string | undefined;

  /** Checks the options; nothing is connected until `connect()`. */
  constructor(options: ClientOptions) {
    checkOptions(options);
    this.#options = { ...options };
    this.#agentSocket = agentSocketPath(options.agentForwarding);
  }

  static {
    establish = (session, signal, auth) => session.#establish(signal, auth);
  }

  #live(): void {
    if (this.#closed) throw closedError("ClientSession");
  }

  /** The core of a connected session; throws `closed`, or `disconnected` before `connect()`. */
  #connected(): ClientCore {
    this.#live();
    const core = this.#core;
    if (!core) throw new SshError("disconnected", "the session is not connected: call connect() first");
    return core;
  }

  /** The core of a logged-in session. */
  #loggedIn(): ClientCore {
    const core = this.#connected();
    core.assertConnected();
    if (!core.authenticated) {
      throw new SshError("auth-failed", "the session is not authenticated: call authenticate() first");
    }
    return core;
  }

  async #transport(signal: AbortSignal): Promise<{ fd: number; owned: boolean }> {
    const options = this.#options;
    const port = options.port ?? 22;
    if (options.fd !== undefined) return { fd: options.fd, owned: false };
    if (options.via) {
      // The channel closes when the socket pair does: with this session, or on a failed connect.
      const channel = await options.via.openDirectTcpip({ host: options.host, port, signal });
      return { fd: jumpSocket(channel), owned: true };
    }
    const fd = await connectTcp(
      { host: options.host, port, family: options.family, localAddress: options.localAddress },
      signal,
    );
    return { fd, owned: true };
  }

  async #establish(signal: AbortSignal, auth: ClientAuth | undefined): Promise<void> {
    this.#live();
    if (this.#core || this.#connecting) throw new TypeError("connect() was already called");
    this.#connecting = true;
    const options = this.#options;
    const backend = native();
    try {
      const { fd, owned } = await this.#transport(signal);
      if (this.#closed) {
        if (owned) closeFd(backend, fd);
        throw closedError("ClientSession");
      }
      if (fd > MAX_FD) {
        if (owned) closeFd(backend, fd);
        throw new SshError("connect-failed", `descriptor ${fd} is above ${MAX_FD}, which libssh cannot take`);
      }
      const handle = backend.libssh.ssh_new();
      if (handle === null) {
        if (owned) closeFd(backend, fd);
        throw new SshError("libssh", "ssh_new failed");
      }
      const core = new ClientCore(backend, handle, fd, owned);
      this.#core = core;
      if (options.onError) core.onError = options.onError;
      applyOptions(handle, options, fd);
      backend.libssh.ssh_set_blocking(handle, 0);
      core.handOver();
      const rc = await core.untilDone(() => backend.libssh.ssh_connect(handle), SSH_AGAIN, signal);
      if (rc !== SSH_OK) {
        throw new SshError("key-exchange-failed", `the SSH handshake with ${options.host} failed`, {
          libsshMessage: core.errorText(),
        });
      }
      core.attachEvent();
      await unlessAborted(checkHostKey(core, options.hostKey, options.host, options.port ?? 22), signal);
      if (auth) {
        await authenticate(core, auth, signal);
        this.#loggedInNow(core);
      }
    } catch (error) {
      await this.close();
      throw error;
    } finally {
      this.#connecting = false;
    }
  }

  /** After a successful login: channel opens from the server, keepalive. */
  #loggedInNow(core: ClientCore): void {
    if (core.authenticated) return;
    core.authenticated = true;
    const forwards = new RemoteForwards(this, core);
    this.#forwards = forwards;
    const agent = this.#agentSocket === undefined ? undefined : new AgentRelay(this, core, this.#agentSocket);
    core.onMessage = (message) => agent?.handleMessage(message) ?? forwards.handleMessage(message);
    core.installMessageCallback();
    if (this.#options.keepalive) startKeepalive(core, checkKeepalive(this.#options.keepalive));
  }

  /**
   * Connects: TCP (or `via`/`fd`), key exchange and the host key check,
   * within `connectTimeout`. Then log in with `authenticate()`. Rejects with
   * `connect-failed`, `timeout`, `aborted`, `key-exchange-failed` or a
   * `host-key-*` code; the session is closed then.
   */
  async connect(options?: ConnectOptions): Promise<void> {
    this.#live();
    const limit = deadline(this.#options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT, options?.signal);
    try {
      await this.#establish(limit.signal, undefined);
    } finally {
      limit.dispose();
    }
  }

  /**
   * Logs in with `auth` (default: the `auth` option, else the agent when
   * `SSH_AUTH_SOCK` is set), in OpenSSH's order restricted to what the
   * server lists. Rejects with an `AuthFailedError` (`auth-failed`).
   */
  async authenticate(auth?: ClientAuth, options?: ConnectOptions): Promise<void> {
    const core = this.#connected();
    const credentials = auth ?? this.#options.auth ?? defaultAuth();
    checkAuth(credentials);
    await authenticate(core, credentials, options?.signal);
    this.#loggedInNow(core);
  }

  /** Tries the "none" method; also asks the server for its list of methods (`userauthList`). */
  async userauthNone(): Promise<AuthStatus> {
    const core = this.#connected();
    const status = await userauthNone(core);
    if (status === 0) this.#loggedInNow(core);
    return status;
  }

  /** The methods the server still accepts (known after a first attempt). */
  userauthList(): AuthMethodName[] {
    return userauthList(this.#connected());
  }

  /** Tries a password. */
  async userauthPassword(password: string): Promise<AuthStatus> {
    const core = this.#connected();
    const status = await userauthPassword(core, password);
    if (status === 0) this.#loggedInNow(core);
    return status;
  }

  /** Asks whether the server would accept `key`, without signing (`Success` means yes). */
  userauthTryPublicKey(key: SshKey): Promise<AuthStatus> {
    return userauthTryPublicKey(this.#connected(), key);
  }

  /** Logs in with a private key. */
  async userauthPublicKey(key: SshKey): Promise<AuthStatus> {
    const core = this.#connected();
    const status = await userauthPublicKey(core, key);
    if (status === 0) this.#loggedInNow(core);
    return status;
  }

  /** Keyboard-interactive: `answer` answers each round of prompts. */
  async userauthKbdint(answer: KbdintHandler): Promise<AuthStatus> {
    const core = this.#connected();
    if (typeof answer !== "function") {
      throw new TypeError("userauthKbdint takes a function that answers the prompts");
    }
    const status = await userauthKbdint(core, answer);
    if (status === 0) this.#loggedInNow(core);
    return status;
  }

  /** Logs in with the keys of the SSH agent (`SSH_AUTH_SOCK`, or `socketPath`), on a worker thread. */
  async userauthAgent(socketPath?: string): Promise<AuthStatus> {
    const core = this.#connected();
    const status = await userauthAgent(core, socketPath);
    if (status === 0) this.#loggedInNow(core);
    return status;
  }

  /** The server's host key (a new `SshKey` each time). */
  serverKey(): SshKey {
    return serverKey(this.#connected());
  }

  /** What the known_hosts files say of the server's key. */
  knownHostsStatus(): KnownHosts {
    return knownHostsStatus(this.#connected());
  }

  /** Appends the server's key to the user's known_hosts file (`hostKey.knownHosts`). */
  updateKnownHosts(): void {
    updateKnownHosts(this.#connected());
  }

  /** The server's key as a known_hosts line (`[host]:port ssh-ed25519 AAAA…`). */
  knownHostsEntry(): string {
    return knownHostsEntry(this.#connected());
  }

  /**
   * Runs `command` and collects its output: resolves with stdout, stderr
   * and the exit status once it ended. With `check`, a status other than 0
   * rejects with `CommandFailedError`.
   *
   * @example
   * ```ts
   * import type { ClientSession } from "@libssh/libssh";
   *
   * declare const ssh: ClientSession;
   * const { stdoutText } = await ssh.run("uname -a", { check: true });
   * const sum = await ssh.run("sha256sum", { stdin: "hello", timeout: 10_000 });
   * ```
   */
  async run(command: string, options?: RunOptions): Promise<CompletedProcess> {
    // The signal is for completion(), which also stops the command on timeout.
    const process = await this.#spawn(command, { ...options, signal: undefined }, true);
    return completion(process, command, options ?? {});
  }

  /**
   * Starts `command`; its stdin, stdout and stderr are streams. `signal`
   * sends `TERM` and closes the channel.
   *
   * @example
   * ```ts
   * import type { ClientSession } from "@libssh/libssh";
   *
   * declare const ssh: ClientSession;
   * await using tail = await ssh.spawn("tail -f /var/log/syslog");
   * for await (const chunk of tail.stdout) console.log(new TextDecoder().decode(chunk));
   * ```
   */
  async spawn(command: string, options?: ExecOptions): Promise<SshProcess> {
    const process = await this.#spawn(command, options ?? {}, false);
    return this.#watched(process, options?.signal);
  }

  async #spawn(command: string, options: ExecOptions, endStdin: boolean): Promise<SshProcess> {
    this.#loggedIn();
    if (typeof command !== "string") throw new TypeError("the command must be a string");
    checkExecOptions(options);
    const channel = await this.openSession({ signal: options.signal });
    await startCommand(channel, command, options, options.pty, endStdin, this.#agentSocket !== undefined);
    return new SshProcess(channel);
  }

  /**
   * Starts the user's login shell, on a pty unless `pty: false`.
   *
   * @example
   * ```ts
   * import type { ClientSession } from "@libssh/libssh";
   *
   * declare const ssh: ClientSession;
   * await using shell = await ssh.shell({ pty: { cols: 120, rows: 40 } });
   * const writer = shell.stdin.getWriter();
   * await writer.write(new TextEncoder().encode("echo $TERM; exit\n"));
   * ```
   */
  async shell(options?: ExecOptions): Promise<SshProcess> {
    this.#loggedIn();
    const settings = options ?? {};
    checkExecOptions(settings);
    const channel = await this.openSession({ signal: settings.signal });
    await startCommand(
      channel,
      undefined,
      settings,
      settings.pty ?? true,
      false,
      this.#agentSocket !== undefined,
    );
    return this.#watched(new SshProcess(channel), settings.signal);
  }

  #watched(process: SshProcess, signal: AbortSignal | undefined): SshProcess {
    if (signal) {
      const { disarm } = stopper(process, { signal });
      process.exited.then(disarm, disarm);
    }
    return process;
  }

  /**
   * Starts SFTP on an `sftp` subsystem channel of this session (README
   * "SFTP"). Closing the `SftpClient` closes its channel; the session stays.
   *
   * @example
   * ```ts
   * import type { ClientSession } from "@libssh/libssh";
   *
   * declare const ssh: ClientSession;
   * await using sftp = await ssh.sftp();
   * await sftp.writeFile("hello.txt", "hi\n");
   * console.log((await sftp.stat("hello.txt")).size);
   * ```
   */
  async sftp(options?: SftpClientOptions): Promise<SftpClient> {
    const channel = await this.openSession({ signal: options?.signal });
    try {
      await channel.requestSubsystem("sftp");
    } catch (error) {
      await channel.close();
      throw error;
    }
    // over() closes the channel itself when the SFTP handshake fails.
    return SftpClient.over(
      { readable: channel.readable, writable: channel.writable, close: () => channel.close() },
      options,
    );
  }

  /** Opens a session channel, to send requests yourself (`requestPty`, `requestExec`, …). */
  openSession(options?: ConnectOptions): Promise<ClientChannel> {
    const core = this.#loggedIn();
    const { libssh } = core.backend;
    return openChannel(
      this,
      core,
      "session",
      (handle) => libssh.ssh_channel_open_session(handle),
      options?.signal,
    );
  }

  /**
   * Opens a TCP connection from the server to `host:port` (`ssh -W`); the
   * channel carries its bytes.
   *
   * @example
   * ```ts
   * import type { ClientSession } from "@libssh/libssh";
   *
   * declare const ssh: ClientSession;
   * await using web = await ssh.openDirectTcpip({ host: "intranet.example", port: 80 });
   * await web.write("GET / HTTP/1.0\r\n\r\n");
   * console.log(await new Response(web.readable).text());
   * ```
   */
  openDirectTcpip(options: DirectTcpipOptions): Promise<ClientChannel> {
    return openDirectTcpip(this, this.#loggedIn(), options);
  }

  /** Listens on a local port whose connections go to `host:port` through the server (`ssh -L`). */
  forwardLocal(options: LocalForwardOptions): Promise<LocalForward> {
    return forwardLocal(this, this.#loggedIn(), options);
  }

  /** Asks the server to listen on a port whose connections come back here (`ssh -R`). */
  forwardRemote(options: RemoteForwardOptions): Promise<RemoteForward> {
    this.#loggedIn();
    return this.#forwards!.open(options ?? {});
  }

  /** The host given in the options. */
  get host(): string {
    return this.#options.host;
  }

  /** The port given in the options (default 22). */
  get port(): number {
    return this.#options.port ?? 22;
  }

  /** The user name the session logs in as. */
  get user(): string | undefined {
    const core = this.#core;
    if (!core || this.#closed) return this.#options.user;
    const cell = new PointerCell();
    const { backend } = core;
    if (backend.libssh.ssh_options_get(core.handle, SSH_OPTIONS_USER, cell.buffer) !== SSH_OK) {
      return this.#options.user;
    }
    const text = cell.get(backend);
    const user = backend.readCString(text) ?? undefined;
    backend.libssh.ssh_string_free_char(text);
    return user;
  }

  /** The server's identification string, e.g. `SSH-2.0-OpenSSH_9.2p1 Debian-2`. */
  get serverBanner(): string | undefined {
    const core = this.#core;
    if (!core || this.#closed) return undefined;
    return core.backend.readCString(core.backend.libssh.ssh_get_serverbanner(core.handle)) ?? undefined;
  }

  /** Whether the session is connected (and not closed). */
  get isConnected(): boolean {
    return !this.#closed && this.#core !== undefined && !this.#core.disconnected;
  }

  /** Whether the session logged in. */
  get isAuthenticated(): boolean {
    return !this.#closed && this.#core?.authenticated === true;
  }

  /** Resolves when the connection ends: the server left, an error, a keepalive timeout, or `close()`. */
  get disconnected(): Promise<void> {
    return this.#core?.ended ?? Promise.resolve();
  }

  /** The channels open on this session. */
  get channels(): ClientChannel[] {
    this.#live();
    return [...(this.#core?.channels.values() ?? [])].map((channel) =>
      (channel.owner as ChannelState).channel
    );
  }

  /** libssh's last error message for this session. */
  getError(): string {
    return this.#closed ? "" : this.#core?.errorText() ?? "";
  }

  /**
   * Disconnects and frees the session, its channels and forwardings.
   * Idempotent; pending operations reject with `SshError` `"closed"`.
   */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      const core = this.#core;
      if (core) {
        core.closed = true;
        core.defer(() => core.destroy());
      }
    }
    return this.#core?.ended ?? Promise.resolve();
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Connects to an SSH server and logs in: TCP, key exchange, the host key
 * check (known_hosts by default, an unknown host refused) and
 * authentication, within `connectTimeout`.
 *
 * @example
 * ```ts
 * import { connect } from "@libssh/libssh";
 *
 * await using ssh = await connect({
 *   host: "example.com",
 *   user: "me",
 *   auth: { privateKey: "/home/me/.ssh/id_ed25519" },
 * });
 * const result = await ssh.run("uname -a", { check: true });
 * console.log(result.stdoutText);
 * ```
 */
export async function connect(options: ClientOptions): Promise<ClientSession> {
  const session = new ClientSession(options);
  const limit = deadline(options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT, options.signal);
  try {
    await establish(session, limit.signal, options.auth ?? defaultAuth());
  } finally {
    limit.dispose();
  }
  options.signal?.addEventListener("abort", () => void session.close(), { once: true });
  return session;
}
