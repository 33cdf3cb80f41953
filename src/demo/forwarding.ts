/**
 * The DemoServer's port forwarding: direct-tcpip channels (`ssh -L`) and
 * reverse forwarding (`ssh -R`: tcpip-forward, forwarded-tcpip channels).
 *
 * libssh 0.10 delivers channel opens and global requests through the message
 * callback and frees the message when the callback returns, so the answer must
 * be known before it returns: the connect to a `-L` target and the listen for
 * `-R` happen right there. A loopback connect answers at once; a remote one
 * waits at most `connectTimeout`.
 *
 * @module
 */

import { native } from "../../ffi/load.ts";
import { closeFd } from "../../ffi/fd.ts";
import { acceptTcp, connectTcp, type Listener, listenTcp } from "../../ffi/tcp.ts";
import { POLLIN } from "../../ffi/platform.ts";
import { SshChannel } from "../channel.ts";
import type { Message } from "../message.ts";
import { reactor, type Watch } from "../reactor.ts";
import type { Session } from "../session.ts";
import { bridge, FdStream } from "../fd_stream.ts";

/** Records a timeline event. */
export type ForwardRecorder = (event: string, data?: Record<string, unknown>) => void;

/**
 * Answers a direct-tcpip channel open inside the message callback: connects
 * first, accepts the channel only when that worked, else refuses it (libssh
 * 0.10 sends "administratively prohibited"; the real reason goes to the
 * timeline). Returns the bridge's promise, or undefined when refused.
 */
export function openDirectTcpip(
  message: Message,
  connectTimeout: number,
  record: ForwardRecorder,
): Promise<unknown> | undefined {
  const { host, port } = message.destination;
  const origin = message.originator;
  let fd: number;
  try {
    fd = connectTcp(native(), host, port, connectTimeout);
  } catch (error) {
    record("forward-refused", { host, port, reason: (error as Error).message });
    message.replyDefault();
    return undefined;
  }
  let channel: SshChannel;
  try {
    channel = message.acceptChannelOpen();
  } catch (error) {
    closeFd(native(), fd);
    throw error;
  }
  record("forward-open", { host, port, origin: `${origin.host}:${origin.port}` });
  return bridge(channel, new FdStream(fd)).then((bytes) =>
    record("forward-closed", { host, port, ...bytes })
  );
}

interface ReverseListener {
  readonly listener: Listener;
  readonly watch: Watch;
  /** The address as the client asked for it (its cancel request names it again). */
  readonly address: string;
}

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
    for (
      let accepted = acceptTcp(native(), entry.listener.fd);
      accepted;
      accepted = acceptTcp(native(), entry.listener.fd)
    ) {
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
