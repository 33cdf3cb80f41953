/**
 * `DemoServer`: a disposable SSH server for test suites.
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { AuthMethod, AuthStatus, PublicKeyState } from "../auth.ts";
import { Bind, type BindAlgorithms, hostKeyFile, listen } from "../bind.ts";
import { fileError, SshError } from "../errors.ts";
import type { ServerLimits } from "../limits.ts";
import { ChannelCallbacks, ServerCallbacks } from "../callbacks.ts";
import { SshChannel } from "../channel.ts";
import { SessionEvent } from "../event.ts";
import { SshKey } from "../key.ts";
import type { WindowSize } from "../../ffi/demo/pty.ts";
import { ChannelType, GlobalRequestType, type Message, RequestType } from "../message.ts";
import type { Session } from "../session.ts";
import { runCommand } from "./command.ts";
import type { RunningCommand } from "./running_command.ts";
import { openDirectTcpip, ReverseForwarding } from "./forwarding.ts";
import { type RunningPtyCommand, runPtyCommand } from "./pty_command.ts";
import { Timeline, type TimelineEntry } from "./timeline.ts";
import { DirectLauncher, type ProcessLauncher } from "./process_launcher.ts";
import { Spawner } from "./spawner.ts";
import { native } from "../_native.ts";
import { nativeSpawnAvailable } from "../../ffi/demo/spawn.ts";

const SFTP_SERVERS = [
  "/usr/lib/openssh/sftp-server",
  "/usr/libexec/openssh/sftp-server",
  "/usr/libexec/sftp-server",
];
const KBDINT_TOKEN = "bar";
const DEFAULT_CONNECT_TIMEOUT_MS = 2000;

/**
 * An auth method the DemoServer can offer, named as in SSH (and in `DemoClient.authMethod`).
 *
 * @example Password only, for clients that cannot answer keyboard-interactive prompts
 * ```ts
 * import { type DemoAuthMethod, DemoServer } from "@libssh/libssh/demo";
 *
 * const forPlink: DemoAuthMethod[] = ["password"];
 * await using ds = await DemoServer.start({ authMethods: forPlink });
 * console.log(ds.authMethods);
 * ```
 */
export type DemoAuthMethod = "password" | "keyboard-interactive" | "publickey" | "none";

const AUTH_METHODS: Record<DemoAuthMethod, AuthMethod> = {
  "password": AuthMethod.Password,
  "keyboard-interactive": AuthMethod.Interactive,
  "publickey": AuthMethod.PublicKey,
  "none": AuthMethod.None,
};

/** What the DemoServer offers unless told otherwise (`"none"` too with `allowAuthNone`). */
const DEFAULT_AUTH_METHODS: readonly DemoAuthMethod[] = ["password", "keyboard-interactive", "publickey"];

/** The methods to offer: `methods` checked, plus `"none"` when `allowAuthNone`. */
function offeredAuthMethods(
  methods: readonly DemoAuthMethod[] | undefined,
  allowNone: boolean,
): DemoAuthMethod[] {
  const names = Object.keys(AUTH_METHODS).join(", ");
  if (methods !== undefined && (!Array.isArray(methods) || methods.length === 0)) {
    throw new TypeError(`authMethods must be a non-empty array of ${names}`);
  }
  const offered = [...(methods ?? DEFAULT_AUTH_METHODS)];
  for (const method of offered) {
    if (!Object.hasOwn(AUTH_METHODS, method)) {
      throw new TypeError(`unknown auth method ${JSON.stringify(method)}: use ${names}`);
    }
  }
  if (allowNone && !offered.includes("none")) offered.push("none");
  return offered;
}

/** Fakes a command in-process instead of running `sh -c`. */
export type ExecHandler = (
  command: string,
  channel: SshChannel,
  context: ExecContext,
) => number | void | Promise<number | void>;

/** What an `exec` handler gets besides the command and channel. */
export interface ExecContext {
  /** The environment the command would run with (server env plus client env requests). */
  env: Record<string, string>;
  /** The client that runs the command. */
  client: DemoClient;
}

/** Options of `DemoServer.start`. */
export interface DemoServerOptions {
  /** Address to listen on. Default `"127.0.0.1"`. */
  host?: string;
  /** Port; 0 (default) picks a free one, see `ds.port`. */
  port?: number;
  /** Share the port with other processes that set it too (`SO_REUSEPORT`, see `BindOptions.reusePort`). Default false. */
  reusePort?: boolean;
  /** The password every user logs in with (password and keyboard-interactive). Default `"foo"`. */
  password?: string;
  /** Let clients log in with the "none" method (adds `"none"` to `authMethods`). Default false. */
  allowAuthNone?: boolean;
  /**
   * The auth methods offered, in SSH's names. Default: `["password",
   * "keyboard-interactive", "publickey"]`. Clients that try
   * keyboard-interactive first and cannot answer its two prompts (`sshpass`
   * without `-o PreferredAuthentications=password`, PuTTY's `plink -batch`,
   * dropbear's `dbclient`) need a list without it, e.g. `["password"]`.
   */
  authMethods?: DemoAuthMethod[];
  /** Keys allowed for public key auth: `SshKey`s, or the path of an `authorized_keys` file. */
  authorizedKeys?: SshKey[] | string;
  /** Host key (an `SshKey` or a private key file); an ed25519 key is generated when omitted. */
  hostKey?: SshKey | string;
  /** Print each timeline entry on stderr as it happens. Default false. */
  verbose?: boolean;
  /** Variables added to the commands' environment (on top of this process's, as it was at `start()`). */
  env?: Record<string, string>;
  /** Working directory of commands. Default: this process's. */
  cwd?: string;
  /** Fake commands in-process: return the exit status (default 0). */
  exec?: ExecHandler;
  /** Kill commands that run longer than this many milliseconds. Default: no limit. */
  timeout?: number;
  /**
   * Where commands are spawned from (Linux). Spawning from a process that
   * holds many descriptors costs more the more it holds (the kernel copies
   * the descriptor table), so past a few thousand (sessions held) commands
   * start from a small helper process that holds a few dozen, the spawner.
   * `"auto"` (default): from this process while it holds fewer than about
   * 4,000 descriptors, from the spawner beyond (started at about 3,000);
   * `"always"`: from the spawner, started with the server; `"never"`: from
   * this process. If the spawner cannot start, commands are spawned from this
   * process; if it dies, the commands it ran end with status 255 and the next
   * one starts a new spawner (see the README).
   */
  spawner?: "auto" | "always" | "never";
  /** Algorithms to allow instead of libssh's defaults (see `BindOptions.algorithms`). */
  algorithms?: BindAlgorithms;
  /**
   * How long a direct-tcpip (`ssh -L`) connect may take, in milliseconds. The
   * open is answered after at most a few ms of it (a loopback target is known
   * by then); a slower connect goes on after the channel was accepted, which
   * is closed if it fails (see the README). Default 2000.
   */
  connectTimeout?: number;
  /**
   * Timeline entries kept, and clients listed in `clients`: the oldest are
   * dropped (and counted in `timelineDropped`), so a long-running server
   * stays flat. Default 10000.
   */
  timelineLimit?: number;
  /**
   * Connection limits (see `ServerLimits`). The DemoServer's defaults are the
   * library's, except `maxUnauthenticated: 1000` and `maxUnauthenticatedStart:
   * 1000` (no random early drop below it): test suites open many connections
   * at once.
   */
  limits?: ServerLimits;
}

/** One client connection, as the DemoServer saw it. */
export interface DemoClient {
  /** Number in the timeline (1, 2, …). */
  readonly id: number;
  /** `address:port` of the client. */
  readonly peer: string;
  /** User name of the login, once logged in. */
  user: string | undefined;
  /** `"password"`, `"keyboard-interactive"`, `"publickey"` or `"none"`, once logged in. */
  authMethod: string | undefined;
  /** Channels opened so far. */
  channels: number;
  /** Commands run, in order (subsystems as `subsystem:<name>`). */
  readonly commands: string[];
  /**
   * Resolves once the connection is over and its `disconnected` entry is in
   * the timeline: a client process that exited may still be disconnecting on
   * the server's side, so wait for this before asserting on the timeline.
   */
  readonly closed: Promise<void>;
}

/**
 * Gives `started` a throwing getter for each member of `server`: in plain
 * JavaScript a forgotten `await` would otherwise read `undefined` from the
 * Promise (`DemoServer.start().port`) and fail much later, far from the cause.
 */
function withForgottenAwaitHints(started: Promise<DemoServer>, server: DemoServer): Promise<DemoServer> {
  const names: (string | symbol)[] = [
    ...Object.keys(server),
    ...Object.getOwnPropertyNames(DemoServer.prototype).filter((name) => name !== "constructor"),
    Symbol.asyncDispose,
  ];
  for (const name of names) {
    if (name in started) continue; // `then`, `catch`, `finally` stay the Promise's
    Object.defineProperty(started, name, {
      enumerable: false,
      get(): never {
        const use = typeof name === "symbol" ? "`await using` it" : `reading .${name}`;
        throw new TypeError(
          `DemoServer.start() returns a Promise: await it before ${use} ` +
            "(const ds = await DemoServer.start(), or await using ds = await DemoServer.start())",
        );
      },
    });
  }
  return started;
}

const SPAWNER_MODES: readonly unknown[] = ["auto", "always", "never"];

/** Whether this system can start commands with `posix_spawn` and watch them with pidfds (Linux). */
let nativeSpawn: boolean | undefined;

/** Whether `host` only reaches this machine. */
function isLoopback(host: string): boolean {
  return /^127\./.test(host) || host === "::1" || host === "localhost";
}

/** Records a timeline event for one client. */
type Recorder = (event: string, data?: Record<string, unknown>) => void;

/** What the server keeps per connection. */
interface Connection {
  readonly client: DemoClient;
  readonly record: Recorder;
  readonly reverse: ReverseForwarding;
}

function loadAuthorizedKeys(keys: SshKey[] | string | undefined): SshKey[] {
  if (keys === undefined) return [];
  if (Array.isArray(keys)) {
    for (const key of keys) {
      if (!(key instanceof SshKey)) throw new TypeError("authorizedKeys must hold SshKey objects");
    }
    return [...keys];
  }
  let text: string;
  try {
    text = readFileSync(keys, "utf8");
  } catch (error) {
    throw fileError(`authorized keys file ${keys}`, error);
  }
  return text.split("\n").map((line) => line.trim()).flatMap((line, index) => {
    if (line === "" || line.startsWith("#")) return [];
    try {
      return [SshKey.fromPublicKey(line)];
    } catch (error) {
      const reason = error instanceof SshError ? error.message : String(error);
      throw new SshError("invalid-key", `authorized keys file ${keys}, line ${index + 1}: ${reason}`, {
        cause: error,
      });
    }
  });
}

/**
 * A throw-away SSH server for tests: password (any user), keyboard-interactive
 * (`Password: ` then `Token: `, answers: the password and `bar`), public key
 * and optional "none" auth (which of them: `authMethods`); `sh -c` exec with streamed output, stdin, EOF,
 * exit status or signal and merged environment; shells and commands on a real
 * pty with window changes; direct (`ssh -L`) and reverse (`ssh -R`) port
 * forwarding; SFTP through OpenSSH's `sftp-server`. Binds 127.0.0.1 on a free
 * port by default. Not for production: it runs whatever clients ask.
 *
 * @example
 * ```ts
 * import { DemoServer } from "@libssh/libssh/demo";
 *
 * await using ds = await DemoServer.start({ password: "secret" });
 * // -o PreferredAuthentications=password: OpenSSH would try keyboard-interactive first (see the README)
 * console.log(`sshpass -p secret ssh -p ${ds.port} -o PreferredAuthentications=password -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null user@${ds.host} echo hi`);
 * console.log(ds.knownHostsLine);
 * ```
 */
export class DemoServer {
  /** The listening bind. */
  readonly bind: Bind;
  /** Whether each event is printed as it happens. */
  readonly verbose: boolean;
  /** The accepted password. */
  readonly password: string;
  /** Whether "none" auth logs clients in. */
  readonly allowAuthNone: boolean;
  /** The auth methods offered (only these log anyone in). */
  readonly authMethods: readonly DemoAuthMethod[];
  /** Keys accepted for public key auth. */
  readonly authorizedKeys: SshKey[];
  /** The clients that connected, in order: the latest `timelineLimit`. */
  readonly clients: DemoClient[] = [];
  /** The address listened on. */
  readonly host: string;
  /** The real port. */
  readonly port: number;
  /** The host key. */
  readonly hostKey: SshKey;
  readonly #timeline: Timeline;
  readonly #options: DemoServerOptions;
  #connectionCount = 0;
  readonly #sessions = new Set<Session>();
  readonly #commands = new Set<RunningCommand>();
  readonly #forwards = new Set<Promise<unknown>>();
  readonly #ownsHostKey: boolean;
  #listening: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  /** Who starts commands with `posix_spawn`; none where `node:child_process` does (not Linux). */
  #launcher: ProcessLauncher | undefined;
  #spawner: Spawner | undefined;
  /**
   * This process's environment at start plus `options.env`, what commands
   * start with. Frozen: shared by every command (and encoded for them once).
   */
  readonly #environment: Readonly<Record<string, string>>;

  private constructor(options: DemoServerOptions) {
    this.#options = options;
    this.#timeline = new Timeline(options.timelineLimit);
    this.verbose = options.verbose ?? false;
    this.password = options.password ?? "foo";
    this.authMethods = Object.freeze(offeredAuthMethods(options.authMethods, options.allowAuthNone ?? false));
    this.allowAuthNone = this.authMethods.includes("none");
    this.authorizedKeys = loadAuthorizedKeys(options.authorizedKeys);
    this.host = options.host ?? "127.0.0.1";
    if (options.spawner !== undefined && !SPAWNER_MODES.includes(options.spawner)) {
      throw new TypeError(
        `spawner must be one of ${SPAWNER_MODES.join(", ")}, not ${JSON.stringify(options.spawner)}`,
      );
    }
    const environment: Record<string, string> = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (value !== undefined) environment[name] = value;
    }
    this.#environment = Object.freeze({ ...environment, ...options.env });
    this.#ownsHostKey = !(options.hostKey instanceof SshKey); // generated, or read from a file here
    this.hostKey = options.hostKey === undefined
      ? SshKey.generate("ed25519")
      : typeof options.hostKey === "string"
      ? hostKeyFile(options.hostKey)
      : options.hostKey;
    this.bind = new Bind({
      addr: this.host,
      port: options.port ?? 0,
      reusePort: options.reusePort,
      hostKey: this.hostKey,
      authMethods: this.authMethods.map((method) => AUTH_METHODS[method]),
      algorithms: options.algorithms,
      limits: { maxUnauthenticated: 1000, maxUnauthenticatedStart: 1000, ...options.limits },
    });
    this.port = this.bind.port;
    if (!isLoopback(this.host)) {
      console.error(
        `DemoServer: listening on ${this.host}:${this.port}, beyond this machine: anyone who can reach it ` +
          `and knows the password runs commands as this user. It is a test fixture; bind 127.0.0.1 unless you mean it.`,
      );
    }
    if (this.verbose) this.#timeline.onEntry = (entry) => console.error(Timeline.format(entry));
  }

  /**
   * Starts a server; resolves once it accepts connections (rejects when it
   * cannot: a taken port, a bad host key, …). Await it: reading a field of
   * the Promise itself (`DemoServer.start().port`) throws a TypeError that
   * says so, instead of giving `undefined`.
   */
  static start(options?: DemoServerOptions): Promise<DemoServer> {
    let server: DemoServer;
    try {
      server = new DemoServer(options ?? {});
      server.#listen();
    } catch (error) {
      return Promise.reject(error);
    }
    return withForgottenAwaitHints(Promise.resolve(server), server);
  }

  /** The host key's fingerprint, as `ssh-keygen -l` prints it. */
  get fingerprint(): string {
    return this.hostKey.fingerprint();
  }

  /** A complete OpenSSH `known_hosts` line for this server. */
  get knownHostsLine(): string {
    const host = this.port === 22 ? this.host : `[${this.host}]:${this.port}`;
    return `${host} ${this.hostKey.toPublicKeyString()}`;
  }

  /** What happened, oldest first: the latest `timelineLimit` entries. */
  get timeline(): readonly TimelineEntry[] {
    return this.#timeline.entries;
  }

  /** Timeline entries dropped because it was full (see `timelineLimit`). */
  get timelineDropped(): number {
    return this.#timeline.dropped;
  }

  /** Prints the timeline as a table through `print` (default `console.log`); never throws. */
  printTimeline(print?: (text: string) => void): void {
    const output = print ?? console.log;
    try {
      output(this.#timeline.toString());
    } catch (error) {
      try {
        output(`(timeline could not be printed: ${error})`);
      } catch { /* nothing left to try */ }
    }
  }

  #listen(): void {
    this.#startLauncher();
    this.bind.setMessageCallback((session, message) => this.#onMessage(session, message));
    this.#timeline.record(0, "listening", { host: this.host, port: this.port });
    this.#listening = listen((session) => this.#serve(session), this.bind, {
      onError: (error) => this.#timeline.record(0, "handler-error", { error: String(error) }),
      onLimit: (session, limit) => {
        const connection = this.#connections.get(session);
        this.#timeline.record(connection?.client.id ?? 0, "limit", { limit });
      },
    });
  }

  #connections = new WeakMap<Session, Connection>();

  /** Picks how commands start; the spawner now, while this process holds few descriptors. */
  #startLauncher(): void {
    nativeSpawn ??= nativeSpawnAvailable(native());
    if (!nativeSpawn) return;
    const mode = this.#options.spawner ?? "auto";
    if (mode === "never") {
      this.#launcher = new DirectLauncher();
      return;
    }
    this.#launcher = this.#spawner = new Spawner({
      started: (pid) => this.#timeline.record(0, "spawner-started", { pid }),
      exited: (pid, exit, killed) =>
        this.#timeline.record(
          0,
          "spawner-exited",
          exit.signal ? { pid, signal: exit.signal, killed } : { pid, code: exit.code, killed },
        ),
      unavailable: (reason) => this.#timeline.record(0, "spawner-unavailable", { reason }),
    }, mode);
  }

  async #serve(session: Session): Promise<void> {
    const peer = session.peerAddress;
    let markClosed!: () => void;
    const client: DemoClient = {
      id: ++this.#connectionCount,
      peer: peer ? `${peer.address}:${peer.port}` : "unknown",
      user: undefined,
      authMethod: undefined,
      channels: 0,
      commands: [],
      closed: new Promise((resolve) => markClosed = resolve),
    };
    this.clients.push(client);
    if (this.clients.length > this.#timeline.limit) this.clients.shift();
    const record = this.#recorder(client);
    const reverse = new ReverseForwarding(session, this.host, record);
    this.#connections.set(session, { client, record, reverse });
    this.#sessions.add(session);
    this.#spawner?.expect(this.#sessions.size);
    record("connected", { peer: client.peer });
    session.onError = (error, context) => record("callback-error", { context, error: String(error) });
    session.setServerCallbacks(this.#serverCallbacks(client, record));
    try {
      if (!await session.handleKeyExchange()) {
        record("kex-failed", { reason: session.isClosed ? "closed" : session.getError() });
        return;
      }
      record("kex-done");
      using _event = new SessionEvent(session);
      await session.disconnected;
    } finally {
      await reverse.close();
      record("disconnected");
      this.#sessions.delete(session);
      markClosed();
    }
  }

  #recorder(client: DemoClient): Recorder {
    return (event, data = {}) => this.#timeline.record(client.id, event, data);
  }

  #loggedIn(client: DemoClient, user: string, method: string, record: Recorder): void {
    client.user = user;
    client.authMethod = method;
    record("auth-success", { user, method });
  }

  #serverCallbacks(
    client: DemoClient,
    record: Recorder,
  ): ServerCallbacks<undefined> {
    return new ServerCallbacks(undefined, {
      onAuthPassword: (_session, user, password) => {
        const ok = this.authMethods.includes("password") && password === this.password;
        record("auth-password", { user, ok }); // the password itself is never recorded
        if (ok) this.#loggedIn(client, user, "password", record);
        return ok ? AuthStatus.Success : AuthStatus.Denied;
      },
      onAuthNone: (_session, user) => {
        record("auth-none", { user, ok: this.allowAuthNone });
        if (this.allowAuthNone) this.#loggedIn(client, user, "none", record);
        return this.allowAuthNone ? AuthStatus.Success : AuthStatus.Denied;
      },
      onAuthPubkey: (_session, user, key, state) => {
        const known = this.authMethods.includes("publickey") &&
          this.authorizedKeys.some((k) => k.equals(key));
        record("auth-publickey", {
          user,
          key: key.fingerprint(),
          known,
          signed: state === PublicKeyState.Valid,
        });
        key.close();
        if (!known || (state !== PublicKeyState.None && state !== PublicKeyState.Valid)) {
          return AuthStatus.Denied;
        }
        if (state === PublicKeyState.Valid) this.#loggedIn(client, user, "publickey", record);
        return AuthStatus.Success;
      },
      onChannelOpenRequestSession: (session) => {
        client.channels++;
        record("channel-open", { type: "session" });
        return this.#sessionChannel(session, client, record);
      },
    });
  }

  #onMessage(session: Session, message: Message): boolean {
    const connection = this.#connections.get(session);
    if (!connection) return true;
    const { client, record } = connection;
    if (message.type === RequestType.Auth && message.subtype === AuthMethod.Interactive) {
      if (!this.authMethods.includes("keyboard-interactive")) return true; // libssh refuses it
      this.#keyboardInteractive(client, message, record);
      return false;
    }
    if (client.authMethod === undefined) return true; // libssh refuses the rest before login anyway
    if (message.type === RequestType.ChannelOpen && message.subtype === ChannelType.DirectTcpip) {
      const bridge = openDirectTcpip(
        message,
        this.#options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS,
        record,
      );
      if (bridge) {
        client.channels++;
        this.#forwards.add(bridge);
        void bridge.finally(() => this.#forwards.delete(bridge));
      }
      return false;
    }
    if (message.type === RequestType.Global && message.subtype === GlobalRequestType.TcpipForward) {
      connection.reverse.listen(message);
      return false;
    }
    if (message.type === RequestType.Global && message.subtype === GlobalRequestType.CancelTcpipForward) {
      connection.reverse.cancel(message);
      return false;
    }
    return true;
  }

  #keyboardInteractive(client: DemoClient, message: Message, record: Recorder): void {
    if (!message.isKbdintResponse) {
      record("auth-kbdint", { user: message.authUser, step: "prompts" });
      message.sendInteractivePrompts({ prompts: [{ prompt: "Password: " }, { prompt: "Token: " }] });
      return;
    }
    const answers = message.kbdintAnswers;
    const ok = answers.length === 2 && answers[0] === this.password && answers[1] === KBDINT_TOKEN;
    record("auth-kbdint", { user: message.authUser, step: "answers", ok }); // answers are never recorded
    if (ok) {
      const user = message.authUser;
      message.replyAuthSuccess();
      this.#loggedIn(client, user, "keyboard-interactive", record);
    } else {
      message.replyDefault();
    }
  }

  #sessionChannel(
    session: Session,
    client: DemoClient,
    record: Recorder,
  ): SshChannel {
    const channel = new SshChannel(session);
    const clientEnv: Record<string, string> = {};
    let running: RunningCommand | RunningPtyCommand | undefined;
    // A client that vanishes (killed, network gone) never closes its channels:
    // a command without output or input would run on, holding its pipes.
    void session.disconnected.then(() => running?.terminate());
    let terminal: { term: string; size: WindowSize } | undefined;
    const environment = (): Readonly<Record<string, string>> =>
      Object.keys(clientEnv).length === 0 ? this.#environment : { ...this.#environment, ...clientEnv };
    const start = (argv: string[], label: string, onTerminal: boolean): void => {
      client.commands.push(label);
      const pty = onTerminal ? terminal : undefined; // a shell or command gets one only after a pty request
      record("exec", { command: label, pty: pty !== undefined });
      const options = {
        env: environment(),
        cwd: this.#options.cwd,
        timeout: this.#options.timeout,
        launcher: this.#launcher,
      };
      const command = pty
        ? runPtyCommand(channel, argv, { ...options, ...pty })
        : runCommand(channel, argv, options);
      running = command;
      this.#commands.add(command);
      void command.finished.then((exit) => {
        this.#commands.delete(command);
        record(
          exit.signal ? "exit-signal" : "exit-status",
          exit.signal ? { signal: exit.signal } : { code: exit.code },
        );
      });
    };
    const fake = (command: string, handler: ExecHandler): void => {
      client.commands.push(command);
      record("exec", { command, handler: true });
      void (async () => {
        let status = 1;
        try {
          status = (await handler(command, channel, { env: { ...environment() }, client })) ?? 0;
        } catch (error) {
          record("exec-error", { error: String(error) });
          await channel.write(`${error}\n`, { stderr: true }).catch(() => {});
        }
        if (!channel.isOpen) return;
        await channel.sendExitStatus(status).then(() => channel.sendEof()).catch(() => {});
        record("exit-status", { code: status });
        await channel.close();
      })();
    };
    channel.setCallbacks(
      new ChannelCallbacks(undefined, {
        onEnvRequest: (_s, _c, name, value) => {
          clientEnv[name] = value;
          record("env", { name });
          return true;
        },
        onExecRequest: (_s, _c, command) => {
          if (running) return false;
          if (this.#options.exec) fake(command, this.#options.exec);
          else start(["/bin/sh", "-c", command], command, true);
          return true;
        },
        onPtyRequest: (_s, _c, term, columns, rows, widthPixels, heightPixels) => {
          if (running || terminal) return false;
          terminal = { term, size: { columns, rows, widthPixels, heightPixels } };
          record("pty", { term, columns, rows });
          return true;
        },
        onPtyWindowChange: (_s, _c, columns, rows, widthPixels, heightPixels) => {
          if (!terminal) return false;
          terminal.size = { columns, rows, widthPixels, heightPixels };
          record("window-change", { columns, rows });
          if (running && "resize" in running) running.resize(terminal.size);
          return true;
        },
        onShellRequest: () => {
          if (running || this.#options.exec) return false;
          start([environment().SHELL || "/bin/sh"], "shell", true);
          return true;
        },
        onSubsystemRequest: (_s, _c, subsystem) => {
          const binary = SFTP_SERVERS.find((path) => existsSync(path));
          if (running || subsystem !== "sftp" || !binary) {
            record("subsystem-refused", { subsystem });
            return false;
          }
          start([binary], `subsystem:${subsystem}`, false);
          return true;
        },
        onEof: () => running?.endInput(),
        onSignal: (_s, _c, signal) => {
          record("signal", { signal });
          running?.kill(signal);
        },
        onClose: () => {
          record("channel-close");
          running?.terminate();
        },
      }),
    );
    return channel;
  }

  /** Ends every client and stops listening. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.bind.close();
      for (const command of this.#commands) command.terminate();
      await Promise.all([...this.#sessions].map((session) => session.close()));
      await this.#listening;
      await Promise.allSettled(this.#forwards);
      await this.#spawner?.close();
      this.#timeline.record(0, "closed");
      if (this.#ownsHostKey) this.hostKey.close();
    })();
    return this.#closing;
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
