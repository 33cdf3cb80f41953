/**
 * The socket a client session runs on, made before libssh sees it: our own
 * name resolution (on a worker thread) and TCP connect (every address in
 * turn, through the reactor), so that nothing blocks the JS thread and the
 * connect can time out or be aborted. libssh's own connect resolves on the
 * calling thread and tries one address.
 *
 * @module
 */

import { native } from "../../ffi/load.ts";
import { closeFd, ErrnoError } from "../../ffi/fd.ts";
import {
  connectError,
  type ResolvedAddress,
  resolvedAddress,
  ResolveError,
  resolveTcp,
  socketPair,
  startConnect,
} from "../../ffi/client_socket.ts";
import { AF_INET, AF_INET6, POLLOUT } from "../../ffi/platform.ts";
import { setNoDelay } from "../../ffi/socket.ts";
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

/** Resolves `host`, or rejects with the signal's reason (the lookup then finishes and frees on its own). */
async function resolve(
  host: string,
  port: number,
  family: number,
  signal: AbortSignal,
): Promise<ResolvedAddress[]> {
  const lookup = resolveTcp(native(), host, port, family);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([lookup, aborted]);
  } catch (error) {
    if (error instanceof ResolveError) {
      throw new SshError("connect-failed", `cannot resolve ${host}: ${error.message}`, { cause: error });
    }
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort!);
    lookup.catch(() => {}); // an abandoned lookup's failure is nobody's
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
    let fd: number;
    try {
      const started = startConnect(backend, address, local);
      fd = started.fd;
      if (!started.connected) {
        await whenReady(fd, POLLOUT, signal).catch((error) => {
          closeFd(backend, fd);
          throw error;
        });
      }
    } catch (error) {
      if (!(error instanceof ErrnoError)) throw error;
      lastError = error;
      continue;
    }
    const errno = connectError(backend, fd);
    if (errno === 0) {
      setNoDelay(backend, fd);
      return fd;
    }
    closeFd(backend, fd);
    const where = resolvedAddress(address);
    lastError = new ErrnoError(
      backend,
      `connect to ${where?.address ?? target.host} port ${target.port}`,
      errno,
    );
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
