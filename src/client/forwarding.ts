/**
 * Port forwarding for the client: direct-tcpip channels (`ssh -W`), local
 * listeners whose connections go through them (`ssh -L`), and ports the
 * server listens on for us (`ssh -R`: tcpip-forward, forwarded-tcpip).
 *
 * The local sockets are the runtime's (`node:net`, in Deno and Node alike);
 * bytes are copied with back-pressure both ways.
 *
 * @module
 */

import { createConnection, createServer, type Server, type Socket } from "node:net";
import type { Pointer } from "../../ffi/backend.ts";
import { SSH_AGAIN, SSH_OK } from "../../ffi/constants.ts";
import { cString } from "../../ffi/cstring.ts";
import { ChannelType, RequestType } from "../message.ts";
import { SshError } from "../errors.ts";
import type { ClientSession } from "../client.ts";
import { type ClientChannel, openChannel, wrapChannel } from "./client_channel.ts";
import type { ClientCore } from "./client_core.ts";

/** Connections a forwarding serves at once, by default; more are refused. */
const DEFAULT_MAX_CONNECTIONS = 64;

/** Options of `ClientSession.openDirectTcpip` (`ssh -W`). */
export interface DirectTcpipOptions {
  /** Where the server connects to. */
  host: string;
  /** The port there. */
  port: number;
  /** Reported to the server as the connection's origin. Default `"127.0.0.1"`. */
  originHost?: string;
  /** Reported to the server as the connection's origin port. Default 0. */
  originPort?: number;
  /** Aborts the open (`SshError` `"aborted"`). */
  signal?: AbortSignal;
}

/** Options of `ClientSession.forwardLocal` (`ssh -L`). */
export interface LocalForwardOptions {
  /** Local address to listen on. Default `"127.0.0.1"`. */
  listenHost?: string;
  /** Local port; 0 (default) picks a free one (see `listenPort` of the result). */
  listenPort?: number;
  /** Where the server connects each connection to. */
  host: string;
  /** The port there. */
  port: number;
  /** Connections served at once; more are closed at once. Default 64. */
  maxConnections?: number;
}

/** Where a forwarded connection came from, as the server reports it. */
export interface ForwardedConnectionInfo {
  /** The address the server accepted the connection on. */
  address: string;
  /** The port the server accepted the connection on (the forwarding's `listenPort`). */
  port: number;
  /** The connecting peer's address. */
  originAddress: string;
  /** The connecting peer's port. */
  originPort: number;
}

/** Options of `ClientSession.forwardRemote` (`ssh -R`). */
export interface RemoteForwardOptions {
  /** Address the server listens on. Default `"127.0.0.1"`; `""` for all its addresses. */
  listenHost?: string;
  /** Port the server listens on; 0 (default) lets it pick (see `listenPort` of the result). */
  listenPort?: number;
  /** Where each connection goes on this side (with `port`), unless `onConnection` takes it. */
  host?: string;
  /** The port there. */
  port?: number;
  /** Takes each connection's channel instead of connecting it to `host:port`. */
  onConnection?(channel: ClientChannel, info: ForwardedConnectionInfo): void;
  /** Connections served at once; more are refused. Default 64. */
  maxConnections?: number;
}

function checkPort(value: unknown, name: string, allowZero: boolean): number {
  if (!Number.isInteger(value) || (value as number) < (allowZero ? 0 : 1) || (value as number) > 65535) {
    throw new RangeError(`${name} must be an integer from ${allowZero ? 0 : 1} to 65535`);
  }
  return value as number;
}

function checkHost(value: unknown, name: string): string {
  if (typeof value !== "string" || value === "") {
    throw new TypeError(`${name} must be a host name or address`);
  }
  return value;
}

function checkMax(value: number | undefined): number {
  const max = value ?? DEFAULT_MAX_CONNECTIONS;
  if (!Number.isInteger(max) || max < 1) throw new RangeError("maxConnections must be a positive integer");
  return max;
}

/** Opens a direct-tcpip channel: the server connects to `host:port` and the channel carries the bytes. */
export function openDirectTcpip(
  session: ClientSession,
  core: ClientCore,
  options: DirectTcpipOptions,
): Promise<ClientChannel> {
  const host = cString(checkHost(options?.host, "host"));
  const port = checkPort(options.port, "port", false);
  const origin = cString(options.originHost ?? "127.0.0.1");
  const originPort = checkPort(options.originPort ?? 0, "originPort", true);
  const { libssh } = core.backend;
  return openChannel(
    session,
    core,
    `direct-tcpip to ${options.host}:${port}`,
    (handle) => libssh.ssh_channel_open_forward(handle, host, port, origin, originPort),
    options.signal,
  );
}

/**
 * Copies between a channel and a socket, both ways, until both directions
 * ended (EOF one way leaves the other open), then closes both. A failure on
 * either side ends both.
 */
export async function bridgeSocket(channel: ClientChannel, socket: Socket): Promise<void> {
  const toSocket = (async (): Promise<void> => {
    const reader = channel.readable.getReader();
    try {
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        if (socket.destroyed) throw new Error("socket closed");
        if (!socket.write(chunk.value)) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              socket.off("drain", done);
              socket.off("close", done);
              resolve();
            };
            socket.on("drain", done);
            socket.on("close", done);
          });
        }
      }
      if (!socket.destroyed) socket.end();
    } finally {
      reader.releaseLock();
    }
  })();
  const toChannel = new Promise<void>((resolve, reject) => {
    socket.on("data", (chunk: Uint8Array) => {
      socket.pause();
      channel.write(chunk).then(() => socket.resume(), reject);
    });
    socket.on("end", () => {
      channel.sendEof().then(resolve, reject);
    });
    socket.on("error", reject);
    socket.on("close", () => resolve());
  });
  try {
    await Promise.all([toSocket, toChannel]);
  } catch {
    // one side failed: both end below
  } finally {
    socket.destroy();
    await channel.close();
    await Promise.allSettled([toSocket, toChannel]);
  }
}

/** Connections of a forwarding, closed with it. */
export class ConnectionSet {
  readonly #active = new Set<{ socket?: Socket; channel?: ClientChannel }>();
  readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  get size(): number {
    return this.#active.size;
  }

  /** Runs `serve` as one connection, counted until it ends; false (not run) at the limit. */
  add(entry: { socket?: Socket; channel?: ClientChannel }, serve: () => Promise<void>): boolean {
    if (this.#active.size >= this.max) return false;
    this.#active.add(entry);
    serve().catch(() => {}).finally(() => this.#active.delete(entry));
    return true;
  }

  closeAll(): void {
    for (const entry of this.#active) {
      entry.socket?.destroy();
      void entry.channel?.close();
    }
  }
}

let makeLocalForward: (
  listenHost: string,
  listenPort: number,
  server: Server,
  connections: ConnectionSet,
) => LocalForward;

/** Listens on a local port whose connections go to `host:port` through the server (`ssh -L`). */
export async function forwardLocal(
  session: ClientSession,
  core: ClientCore,
  options: LocalForwardOptions,
): Promise<LocalForward> {
  const listenHost = options.listenHost ?? "127.0.0.1";
  checkHost(listenHost, "listenHost");
  const listenPort = checkPort(options.listenPort ?? 0, "listenPort", true);
  const host = checkHost(options.host, "host");
  const port = checkPort(options.port, "port", false);
  const connections = new ConnectionSet(checkMax(options.maxConnections));
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
    socket.on("error", () => {});
    const entry: { socket: Socket; channel?: ClientChannel } = { socket };
    const accepted = connections.add(entry, async () => {
      let channel: ClientChannel;
      try {
        channel = await openDirectTcpip(session, core, {
          host,
          port,
          originHost: socket.remoteAddress ?? "127.0.0.1",
          originPort: socket.remotePort ?? 0,
        });
      } catch (error) {
        socket.destroy();
        throw error;
      }
      entry.channel = channel;
      socket.resume();
      await bridgeSocket(channel, socket);
    });
    if (!accepted) socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listenPort, listenHost, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const forward = makeLocalForward(
    listenHost,
    typeof address === "object" && address ? address.port : listenPort,
    server,
    connections,
  );
  core.onEnd(() => void forward.close());
  return forward;
}

/**
 * A local port whose connections go through the session to `host:port` on
 * the server's side (`ssh -L`). Close it to stop listening and end its
 * connections; it closes with the session.
 *
 * @example
 * ```ts
 * import type { ClientSession } from "@libssh/libssh";
 *
 * declare const ssh: ClientSession;
 * await using forward = await ssh.forwardLocal({ host: "127.0.0.1", port: 5432 });
 * console.log(`postgres://127.0.0.1:${forward.listenPort}/`);
 * ```
 */
export class LocalForward {
  /** The local address listened on. */
  readonly listenHost: string;
  /** The local port listened on (the one picked, for 0). */
  readonly listenPort: number;
  readonly #server: Server;
  readonly #connections: ConnectionSet;
  #closing: Promise<void> | undefined;

  private constructor(listenHost: string, listenPort: number, server: Server, connections: ConnectionSet) {
    this.listenHost = listenHost;
    this.listenPort = listenPort;
    this.#server = server;
    this.#connections = connections;
  }

  static {
    makeLocalForward = (host, port, server, connections) => new LocalForward(host, port, server, connections);
  }

  /** Connections open now. */
  get connections(): number {
    return this.#connections.size;
  }

  /** Stops listening and closes the open connections. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#connections.closeAll();
      this.#server.close(() => resolve());
    });
    return this.#closing;
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The forwardings the server listens on for one session, by bound port. */
export class RemoteForwards {
  readonly #core: ClientCore;
  readonly #session: ClientSession;
  readonly #byPort = new Map<number, ForwardTarget>();

  constructor(session: ClientSession, core: ClientCore) {
    this.#session = session;
    this.#core = core;
  }

  /**
   * Runs a global request (tcpip-forward, cancel-tcpip-forward) in libssh's
   * one slot: after the queued ones, and after the answer to a keepalive was
   * collected (calling a global-request function with a request pending only
   * waits for that one's answer and reports it as its own).
   */
  #globalRequest(fn: () => number): Promise<number> {
    const core = this.#core;
    return core.globalRequests.run(async () => {
      if (core.keepaliveSent) {
        const none = cString("");
        const { libssh } = core.backend;
        await core.untilDone(() => libssh.ssh_channel_cancel_forward(core.handle, none, 0), SSH_AGAIN);
        core.keepaliveSent = false;
      }
      return core.untilDone(fn, SSH_AGAIN);
    });
  }

  /** Asks the server to listen (`tcpip-forward`); resolves with the forwarding. */
  async open(options: RemoteForwardOptions): Promise<RemoteForward> {
    const core = this.#core;
    const listenHost = options.listenHost ?? "127.0.0.1";
    if (typeof listenHost !== "string") throw new TypeError('listenHost must be an address ("" for all)');
    const listenPort = checkPort(options.listenPort ?? 0, "listenPort", true);
    if (options.onConnection !== undefined && typeof options.onConnection !== "function") {
      throw new TypeError("onConnection must be a function");
    }
    if (options.onConnection === undefined) {
      checkHost(options.host, "host");
      checkPort(options.port, "port", false);
    }
    const max = checkMax(options.maxConnections);
    const address = cString(listenHost);
    const bound = new Int32Array(1);
    const { libssh } = core.backend;
    const rc = await this.#globalRequest(() =>
      libssh.ssh_channel_listen_forward(core.handle, address, listenPort, bound)
    );
    if (rc !== SSH_OK) {
      if (core.disconnected || core.closed) throw core.disconnectedError();
      throw new SshError("request-denied", `the server refused to listen on ${listenHost}:${listenPort}`, {
        libsshMessage: core.errorText(),
      });
    }
    const port = listenPort === 0 ? bound[0] : listenPort;
    if (port < 1 || port > 65535) {
      throw new SshError("libssh", `the server's answer to tcpip-forward had no usable port (${port})`);
    }
    const target = new ForwardTarget(options, max);
    this.#byPort.set(port, target);
    return makeRemoteForward(listenHost, port, target, () => this.#cancel(listenHost, port, target));
  }

  async #cancel(listenHost: string, port: number, target: ForwardTarget): Promise<void> {
    if (this.#byPort.get(port) === target) this.#byPort.delete(port);
    const core = this.#core;
    if (core.disconnected || core.closed) return;
    const address = cString(listenHost);
    const { libssh } = core.backend;
    const rc = await this.#globalRequest(() => libssh.ssh_channel_cancel_forward(core.handle, address, port));
    if (rc !== SSH_OK && !core.disconnected && !core.closed) {
      throw new SshError("request-denied", `the server refused to stop listening on port ${port}`, {
        libsshMessage: core.errorText(),
      });
    }
  }

  /**
   * The message callback's part: a forwarded-tcpip open for one of our ports
   * is accepted right here (libssh frees the message afterwards); anything
   * else gets libssh's default reply (a refusal).
   */
  handleMessage(message: Pointer): number {
    const { backend } = this.#core;
    const { libssh } = backend;
    if (
      libssh.ssh_message_type(message) !== RequestType.ChannelOpen ||
      libssh.ssh_message_subtype(message) !== ChannelType.ForwardedTcpip
    ) {
      return 1;
    }
    const info: ForwardedConnectionInfo = {
      address: backend.readCString(libssh.ssh_message_channel_request_open_destination(message)) ?? "",
      port: libssh.ssh_message_channel_request_open_destination_port(message),
      originAddress: backend.readCString(libssh.ssh_message_channel_request_open_originator(message)) ?? "",
      originPort: libssh.ssh_message_channel_request_open_originator_port(message),
    };
    const target = this.#byPort.get(info.port);
    if (!target || !target.hasRoom()) return 1;
    const handle = libssh.ssh_message_channel_request_open_reply_accept(message);
    if (handle === null) return 0;
    target.accepted(wrapChannel(this.#session, this.#core, handle), info);
    return 0;
  }
}

/** What the session keeps of one remote forwarding: its connections and where they go. */
class ForwardTarget {
  readonly connections: ConnectionSet;
  readonly options: RemoteForwardOptions;
  closing = false;

  constructor(options: RemoteForwardOptions, max: number) {
    this.options = options;
    this.connections = new ConnectionSet(max);
  }

  /** Whether one more connection may be accepted. */
  hasRoom(): boolean {
    return !this.closing && this.connections.size < this.connections.max;
  }

  /** A connection's channel, accepted inside the message callback. */
  accepted(channel: ClientChannel, info: ForwardedConnectionInfo): void {
    const { onConnection, host, port } = this.options;
    const entry: { channel: ClientChannel; socket?: Socket } = { channel };
    this.connections.add(entry, async () => {
      if (onConnection) {
        onConnection(channel, info);
        await channel.exited.catch(() => {});
        return;
      }
      const socket = createConnection({ host: host!, port: port!, allowHalfOpen: true });
      entry.socket = socket;
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once("connect", resolve);
          socket.once("error", reject);
        });
      } catch {
        socket.destroy();
        await channel.close();
        return;
      }
      await bridgeSocket(channel, socket);
    });
  }
}

let makeRemoteForward: (
  listenHost: string,
  listenPort: number,
  target: ForwardTarget,
  cancel: () => Promise<void>,
) => RemoteForward;

/**
 * A port the server listens on for this session (`ssh -R`): each connection
 * arrives as a channel, connected to `host:port` here or handed to
 * `onConnection`. Close it to cancel the forwarding; it ends with the session.
 *
 * @example
 * ```ts
 * import type { ClientSession } from "@libssh/libssh";
 *
 * declare const ssh: ClientSession;
 * await using forward = await ssh.forwardRemote({ listenPort: 0, host: "127.0.0.1", port: 3000 });
 * console.log(`the server's port ${forward.listenPort} reaches our port 3000`);
 * ```
 */
export class RemoteForward {
  /** The address the server listens on. */
  readonly listenHost: string;
  /** The port the server listens on (the one it picked, for 0). */
  readonly listenPort: number;
  readonly #target: ForwardTarget;
  readonly #cancel: () => Promise<void>;
  #closing: Promise<void> | undefined;

  private constructor(
    listenHost: string,
    listenPort: number,
    target: ForwardTarget,
    cancel: () => Promise<void>,
  ) {
    this.listenHost = listenHost;
    this.listenPort = listenPort;
    this.#target = target;
    this.#cancel = cancel;
  }

  static {
    makeRemoteForward = (host, port, target, cancel) => new RemoteForward(host, port, target, cancel);
  }

  /** Connections open now. */
  get connections(): number {
    return this.#target.connections.size;
  }

  /** Cancels the forwarding on the server and closes its connections. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#target.closing = true;
      this.#target.connections.closeAll();
      await this.#cancel();
    })();
    return this.#closing;
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
