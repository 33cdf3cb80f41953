/**
 * The DemoServer's port forwarding: direct-tcpip channels (`ssh -L`) and
 * reverse forwarding (`ssh -R`: tcpip-forward, forwarded-tcpip channels).
 *
 * libssh 0.10 delivers channel opens and global requests through the message
 * callback and frees the message when the callback returns, so the answer must
 * be known before it returns: the listen for `-R` happens right there, and the
 * connect to a `-L` target is waited on there for a few milliseconds only
 * (see `openDirectTcpip`).
 *
 * @module
 */

import { native } from "../_native.ts";
import { closeFd, ErrnoError } from "../../ffi/fd.ts";
import {
  connectResult,
  type Listener,
  listenTcp,
  lookUp,
  numericAddresses,
  type ResolvedAddress,
  startConnect,
} from "../../ffi/tcp.ts";
import { acceptTcp, awaitConnectBriefly } from "../../ffi/demo/tcp.ts";
import { EINPROGRESS, ETIMEDOUT, POLLIN } from "../../ffi/platform.ts";
import { SshChannel } from "../channel.ts";
import type { Message } from "../message.ts";
import { reactor, type Watch } from "../reactor.ts";
import type { Session } from "../session.ts";
import { bridge, FdStream } from "../fd_stream.ts";

/** Records a timeline event. */
export type ForwardRecorder = (event: string, data?: Record<string, unknown>) => void;

/** How long a direct-tcpip open may hold the JS thread waiting for its connect (loopback answers at once). */
const CONNECT_WAIT_MS = 5;

/**
 * Answers a direct-tcpip channel open inside the message callback, without
 * stalling other sessions: the connect is non-blocking and waited on for at
 * most `CONNECT_WAIT_MS`. A target that answers by then (loopback does)
 * gets the channel accepted once connected, or refused with the reason in
 * the timeline (libssh 0.10 sends "administratively prohibited"), as sshd
 * does. A slower one, or a host name (looked up on a worker thread), gets
 * the channel accepted at once and connected afterwards, within
 * `connectTimeout`; if that fails, the channel is closed and the reason
 * recorded (`forward-failed`). Returns the bridge's promise, or undefined
 * when refused.
 */
export function openDirectTcpip(
  message: Message,
  connectTimeout: number,
  record: ForwardRecorder,
): Promise<unknown> | undefined {
  const { host, port } = message.destination;
  const origin = message.originator;
  const backend = native();
  const deadline = Date.now() + connectTimeout;
  let addresses: ResolvedAddress[] | null;
  let started: { fd: number; errno: number } | undefined;
  try {
    addresses = numericAddresses(backend, host, port);
    if (addresses?.length === 0) throw new Error(`no address for ${host}`);
    // Addresses answer in turn; one still connecting after the short wait goes on later.
    while (addresses && addresses.length > 0 && !started) {
      const address = addresses.shift()!;
      try {
        const attempt = startConnect(backend, address, `connect to ${host}:${port}`);
        if (attempt.errno !== 0) attempt.errno = awaitConnectBriefly(backend, attempt.fd, CONNECT_WAIT_MS);
        if (attempt.errno !== 0 && attempt.errno !== EINPROGRESS) {
          closeFd(backend, attempt.fd);
          throw new ErrnoError(backend, `connect to ${host}:${port}`, attempt.errno);
        }
        started = attempt;
      } catch (error) {
        if (addresses.length === 0) throw error;
      }
    }
  } catch (error) {
    record("forward-refused", { host, port, reason: (error as Error).message });
    message.replyDefault();
    return undefined;
  }
  let channel: SshChannel;
  try {
    channel = message.acceptChannelOpen();
  } catch (error) {
    if (started) closeFd(backend, started.fd);
    throw error;
  }
  const connecting = started?.errno !== 0;
  record("forward-open", {
    host,
    port,
    origin: `${origin.host}:${origin.port}`,
    ...(connecting ? { connecting } : {}),
  });
  const stream = started ? new FdStream(started.fd) : undefined;
  const connected = connecting
    ? connectLater(stream, addresses, host, port, deadline)
    : Promise.resolve(stream!);
  return connected.then(
    (target) => bridge(channel, target).then((bytes) => record("forward-closed", { host, port, ...bytes })),
    async (error) => {
      record("forward-failed", { host, port, reason: (error as Error).message });
      await channel.close();
    },
  );
}

/**
 * Finishes a direct-tcpip connect after its channel was accepted: waits for
 * `pending` (a connect in progress), else looks `host` up on a worker thread,
 * and tries each address in turn through the reactor, until `deadline`.
 */
async function connectLater(
  pending: FdStream | undefined,
  addresses: ResolvedAddress[] | null,
  host: string,
  port: number,
  deadline: number,
): Promise<FdStream> {
  const backend = native();
  const what = `connect to ${host}:${port}`;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now()));
  });
  let stream = pending;
  try {
    const remaining = addresses ?? await Promise.race([lookUp(backend, host, port), timedOut]);
    if (remaining === "timeout") throw new Error(`${what}: the lookup of ${host} timed out`);
    let lastError: Error = new Error(`no address for ${host}`);
    for (;;) {
      if (!stream) {
        const address = remaining.shift();
        if (!address) throw lastError;
        try {
          const attempt = startConnect(backend, address, what);
          stream = new FdStream(attempt.fd);
          if (attempt.errno === 0) return stream;
        } catch (error) {
          lastError = error as Error;
          continue;
        }
      }
      if (await Promise.race([stream.whenWritable(), timedOut]) === "timeout") {
        throw new ErrnoError(backend, what, ETIMEDOUT);
      }
      const errno = stream.closed ? ETIMEDOUT : connectResult(backend, stream.fd);
      if (errno === 0) return stream;
      lastError = new ErrnoError(backend, what, errno);
      stream.close();
      stream = undefined;
    }
  } catch (error) {
    stream?.close();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

interface ReverseListener {
  readonly listener: Listener;
  readonly watch: Watch;
  /** The address as the client asked for it (its cancel request names it again). */
  readonly address: string;
  /** Accepting paused until then: the system ran out of descriptors. */
  retry?: ReturnType<typeof setTimeout>;
}

/** How long a listener pauses when the system has no descriptor for its next connection (as nginx does). */
const ACCEPT_RETRY_MS = 500;

/**
 * One session's reverse forwardings: a listening socket per `tcpip-forward`
 * request, a `forwarded-tcpip` channel to the client per connection.
 */
export class ReverseForwarding {
  readonly #session: Session;
  readonly #bindHost: string;
  readonly #record: ForwardRecorder;
  readonly #listeners = new Map<string, ReverseListener>();
  readonly #bridges = new Set<Promise<unknown>>();
  readonly #streams = new Set<FdStream>();

  /**
   * `bindHost` replaces the wildcard addresses a client may ask for (`""`,
   * `0.0.0.0`, `::`, `*`), as sshd does with `GatewayPorts no`: a test fixture
   * never opens a port beyond its own address.
   */
  constructor(session: Session, bindHost: string, record: ForwardRecorder) {
    this.#session = session;
    this.#bindHost = bindHost;
    this.#record = record;
  }

  /** Answers a `tcpip-forward` global request. */
  listen(message: Message): void {
    const { host, port } = message.globalEndpoint;
    const bindHost = ["", "0.0.0.0", "::", "*"].includes(host) ? this.#bindHost : host;
    let listener: Listener;
    try {
      listener = listenTcp(native(), bindHost, port);
    } catch (error) {
      this.#record("reverse-forward-refused", { host, port, reason: (error as Error).message });
      message.replyDefault();
      return;
    }
    const key = `${host}:${listener.port}`;
    const watch = reactor.watch(listener.fd, POLLIN, () => this.#accept(key));
    this.#listeners.set(key, { listener, watch, address: host });
    message.replyGlobalSuccess(listener.port);
    this.#record("reverse-forward", { host, port: listener.port });
  }

  /** Answers a `cancel-tcpip-forward` global request. */
  cancel(message: Message): void {
    const { host, port } = message.globalEndpoint;
    const key = `${host}:${port}`;
    if (!this.#listeners.has(key)) {
      message.replyDefault();
      return;
    }
    this.#closeListener(key);
    message.replyGlobalSuccess();
    this.#record("reverse-forward-cancelled", { host, port });
  }

  #accept(key: string): void {
    const entry = this.#listeners.get(key);
    if (!entry) return;
    for (;;) {
      let accepted;
      try {
        accepted = acceptTcp(native(), entry.listener.fd);
      } catch (error) {
        this.#record("forwarded-tcpip-refused", {
          port: entry.listener.port,
          reason: (error as Error).message,
        });
        accepted = "exhausted" as const;
      }
      if (accepted === null) return;
      if (accepted === "exhausted") {
        // The connection stays queued; polling the listener now would spin.
        entry.watch.setEvents(0);
        entry.retry = setTimeout(() => {
          entry.retry = undefined;
          entry.watch.setEvents(POLLIN);
        }, ACCEPT_RETRY_MS);
        return;
      }
      const stream = new FdStream(accepted.fd);
      const origin = accepted.peer ?? { address: "0.0.0.0", port: 0 };
      this.#streams.add(stream);
      const done = this.#forward(entry, stream, origin.address, origin.port).finally(() => {
        this.#streams.delete(stream);
        this.#bridges.delete(done);
      });
      this.#bridges.add(done);
    }
  }

  async #forward(
    entry: ReverseListener,
    stream: FdStream,
    originAddress: string,
    originPort: number,
  ): Promise<void> {
    const port = entry.listener.port;
    let channel: SshChannel;
    try {
      channel = new SshChannel(this.#session);
      await channel.openForwardedTcpip({ address: entry.address, port, originAddress, originPort });
    } catch (error) {
      this.#record("forwarded-tcpip-refused", { port, reason: (error as Error).message });
      stream.close();
      return;
    }
    this.#record("forwarded-tcpip-open", { port, origin: `${originAddress}:${originPort}` });
    const bytes = await bridge(channel, stream);
    this.#record("forwarded-tcpip-closed", { port, ...bytes });
  }

  #closeListener(key: string): void {
    const entry = this.#listeners.get(key);
    if (!entry) return;
    this.#listeners.delete(key);
    clearTimeout(entry.retry);
    entry.watch.close();
    closeFd(native(), entry.listener.fd);
  }

  /** Stops listening and ends every forwarded connection. */
  async close(): Promise<void> {
    for (const key of [...this.#listeners.keys()]) this.#closeListener(key);
    for (const stream of this.#streams) stream.close();
    await Promise.allSettled(this.#bridges);
  }
}
