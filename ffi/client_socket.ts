/**
 * The client's own transport, before libssh gets the socket: name resolution
 * on a worker thread, a non-blocking TCP connect whose completion the reactor
 * waits for, and the socket pair a jump host's channel is pumped through.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import { cString } from "./cstring.ts";
import { ErrnoError, lastErrno } from "./fd.ts";
import {
  EINPROGRESS,
  EINTR,
  SO_ERROR,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
} from "./platform.ts";
import { sockaddrAddress, type SocketAddress } from "./socket.ts";
import { type ResolvedAddress, takeAddrinfo, tcpHints } from "./tcp.ts";

export type { ResolvedAddress } from "./tcp.ts";

const AF_UNIX = 1;

/** A name that did not resolve: `getaddrinfo`'s message. */
export class ResolveError extends Error {
  /** `getaddrinfo`'s error code. */
  readonly code: number;
  constructor(message: string, code: number) {
    super(message);
    this.name = "ResolveError";
    this.code = code;
  }
}

/**
 * Resolves `host` for a TCP `port` with `getaddrinfo` on a worker thread (it
 * may wait on DNS); `family` is `AF_INET`, `AF_INET6` or 0 for any. The
 * addresses come in `getaddrinfo`'s order. Rejects with a `ResolveError`.
 */
export async function resolveTcp(
  backend: Backend,
  host: string,
  port: number,
  family: number,
): Promise<ResolvedAddress[]> {
  const node = cString(host);
  const service = cString(String(port));
  const hints = tcpHints(family);
  const result = new BigUint64Array(1);
  const rc = await backend.libc.getaddrinfo_async(node, service, hints, result);
  // The buffers were read by the worker thread: keep them reachable until it returned.
  void [node, service, hints];
  if (rc !== 0) {
    throw new ResolveError(
      backend.readCString(backend.libc.gai_strerror(rc)) ?? `getaddrinfo error ${rc}`,
      rc,
    );
  }
  return takeAddrinfo(backend, result);
}

/** The address and port a resolved address stands for. */
export function resolvedAddress(address: ResolvedAddress): SocketAddress | null {
  return sockaddrAddress(address.sockaddr);
}

/** A socket whose connect was started: `connected` when it finished at once. */
export interface StartedConnect {
  readonly fd: number;
  readonly connected: boolean;
}

/**
 * Opens a non-blocking socket for `address`, binds it to `local` when given,
 * and starts connecting. Throws an `ErrnoError` (the socket closed) when that
 * fails at once; otherwise wait until the socket is writable, then read
 * `connectError`.
 */
export function startConnect(
  backend: Backend,
  address: ResolvedAddress,
  local?: ResolvedAddress,
): StartedConnect {
  const fd = backend.libc.socket(address.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new ErrnoError(backend, "socket");
  try {
    if (local && backend.libc.bind(fd, local.sockaddr, local.sockaddr.length) !== 0) {
      throw new ErrnoError(backend, "bind");
    }
    for (;;) {
      if (backend.libc.connect(fd, address.sockaddr, address.sockaddr.length) === 0) {
        return { fd, connected: true };
      }
      const errno = lastErrno(backend);
      if (errno === EINPROGRESS) return { fd, connected: false };
      if (errno !== EINTR) throw new ErrnoError(backend, "connect", errno);
    }
  } catch (error) {
    backend.libc.close(fd);
    throw error;
  }
}

/** After a started connect made the socket writable: 0 when connected, else its errno. */
export function connectError(backend: Backend, fd: number): number {
  const error = new Int32Array(1);
  const length = new Uint32Array([4]);
  if (backend.libc.getsockopt(fd, SOL_SOCKET, SO_ERROR, error, length) !== 0) return lastErrno(backend);
  return error[0];
}

/** A connected pair of non-blocking, close-on-exec Unix stream sockets. */
export function socketPair(backend: Backend): [number, number] {
  const fds = new Int32Array(2);
  if (backend.libc.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) !== 0) {
    throw new ErrnoError(backend, "socketpair");
  }
  return [fds[0], fds[1]];
}
