/**
 * The socket a client session runs on, made before libssh sees it: our own
 * name resolution (on a worker thread) and TCP connect (every address in
 * turn, through the reactor), so that nothing blocks the JS thread and the
 * connect can time out or be aborted. libssh's own connect resolves on the
 * calling thread and tries one address.
 *
 * @module
 */

import { native } from "../_native.ts";
import { closeFd, ErrnoError } from "../../ffi/fd.ts";
import { AF_INET, AF_INET6, EINPROGRESS, POLLOUT } from "../../ffi/platform.ts";
import { setNoDelay, sockaddrAddress } from "../../ffi/socket.ts";
import { socketPair } from "../../ffi/socket_pair.ts";
import {
  connectResult,
  lookUp,
  numericAddresses,
  type ResolvedAddress,
  startConnect,
} from "../../ffi/tcp.ts";
import { SshError } from "../errors.ts";
import { bridge, type ByteChannel, FdStream } from "../fd_stream.ts";
import { reactor } from "../reactor.ts";

/** Which address family to connect over. */
export type AddressFamily = "IPv4" | "IPv6";

/** Where and how to connect. */
export interface TcpTarget {
  host: string;
  port: number;
  family?: AddressFamily;
  /** Local address to bind before connecting. */
  localAddress?: string;
}

const FAMILIES: Record<AddressFamily, number> = { IPv4: AF_INET, IPv6: AF_INET6 };

/** Waits until the reactor reports `events` on `fd`, or rejects with the signal's reason. */
function whenReady(fd: number, events: number, signal: AbortSignal): Promise<number> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const finish = (): void => {
      watch.close();
      signal.removeEventListener("abort", onAbort);
    };
    const onAbort = (): void => {
      finish();
      reject(signal.reason);
    };
    const watch = reactor.watch(fd, events, (revents) => {
      finish();
      resolve(revents);
    });
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * The addresses of `host`: at once for a numeric one, else looked up on a
 * worker thread; rejects with the signal's reason meanwhile (the lookup then
 * finishes and frees on its own).
 */
async function resolve(
  host: string,
  port: number,
  family: number,
  signal: AbortSignal,
): Promise<ResolvedAddress[]> {
  const backend = native();
  const numeric = numericAddresses(backend, host, port);
  if (numeric !== null) return numeric.filter((address) => family === 0 || address.family === family);
  const lookup = lookUp(backend, host, port, family);
  lookup.catch(() => {}); // an abandoned lookup's failure is nobody's
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([lookup, aborted]);
  } catch (error) {
    if (signal.aborted) throw error;
    throw new SshError("connect-failed", (error as Error).message, { cause: error });
  } finally {
    signal.removeEventListener("abort", onAbort!);
  }
}

/**
 * Connects to `target` over TCP, trying each address in the order
 * `getaddrinfo` gave them; returns the connected, non-blocking socket (with
 * `TCP_NODELAY`). Rejects with `SshError` `"connect-failed"` (its `cause` the
 * last `ErrnoError`), or with the signal's reason.
 */
export async function connectTcp(target: TcpTarget, signal: AbortSignal): Promise<number> {
  const backend = native();
  const family = target.family === undefined ? 0 : FAMILIES[target.family];
  const addresses = await resolve(target.host, target.port, family, signal);
  const local = target.localAddress === undefined
    ? undefined
    : (await resolve(target.localAddress, 0, family, signal))[0];
  let lastError: Error | undefined;
  for (const address of addresses) {
    if (local && local.family !== address.family) continue;
    const where = `connect to ${
      sockaddrAddress(address.sockaddr)?.address ?? target.host
    } port ${target.port}`;
    let fd: number;
    let errno: number;
    try {
      ({ fd, errno } = startConnect(backend, address, where, local));
    } catch (error) {
      if (!(error instanceof ErrnoError)) throw error;
      lastError = error;
      continue;
    }
    if (errno === EINPROGRESS) {
      try {
        await whenReady(fd, POLLOUT, signal);
      } catch (error) {
        closeFd(backend, fd);
        throw error;
      }
      errno = connectResult(backend, fd);
    }
    if (errno === 0) {
      setNoDelay(backend, fd);
      return fd;
    }
    closeFd(backend, fd);
    lastError = new ErrnoError(backend, where, errno);
  }
  throw new SshError(
    "connect-failed",
    `cannot connect to ${target.host} port ${target.port}: ${lastError?.message ?? "no usable address"}`,
    { cause: lastError },
  );
}

/**
 * A socket for a session that runs through a channel of another session (a
 * jump host): one end of a socket pair is returned for libssh, the other is
 * copied to and from `channel` until either side ends.
 */
export function jumpSocket(channel: ByteChannel): number {
  const [mine, theirs] = socketPair(native());
  void bridge(channel, new FdStream(theirs));
  return mine;
}
