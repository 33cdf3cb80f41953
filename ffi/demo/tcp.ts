/**
 * The DemoServer's side of TCP forwarding: accepting connections on a
 * forwarded port, and waiting a few milliseconds for a connect that must be
 * answered inside a libssh callback. Sockets are made by `ffi/tcp.ts`.
 *
 * @module
 */

import type { Backend } from "../backend.ts";
import { claimDescriptors, ErrnoError, isExhaustion, lastErrno } from "../fd.ts";
import {
  EAGAIN,
  ECONNABORTED,
  EINPROGRESS,
  EINTR,
  POLLOUT,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
} from "../platform.ts";
import { type SocketAddress, socketAddress } from "../socket.ts";
import { POLLFD_BYTES } from "../structs.ts";
import { connectResult } from "../tcp.ts";
import { demoLibc } from "./libc.ts";

/**
 * Waits at most `timeoutMs` ON THIS THREAD for a connect in progress: only a
 * few milliseconds, where an answer is wanted before a libssh callback
 * returns (a loopback target answers at once). Returns 0 (connected),
 * `EINPROGRESS` (not yet) or the connect's errno.
 */
export function awaitConnectBriefly(backend: Backend, fd: number, timeoutMs: number): number {
  const pollfd = new Uint8Array(POLLFD_BYTES);
  const view = new DataView(pollfd.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, POLLOUT, true);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = demoLibc(backend).poll_now(pollfd, 1n, Math.max(0, deadline - Date.now()));
    if (ready > 0) return connectResult(backend, fd);
    if (ready === 0) return EINPROGRESS;
    if (lastErrno(backend) !== EINTR) return lastErrno(backend);
  }
}

/** An accepted connection. */
export interface Accepted {
  readonly fd: number;
  readonly peer: SocketAddress | null;
}

/**
 * Accepts one pending connection (non-blocking): `null` when none is waiting,
 * `"exhausted"` when the system ran out of descriptors or memory (the caller
 * pauses the listener and retries later: the connection stays queued). A
 * connection that would eat into the runtime's reserve of descriptors is
 * closed at once (its client sees the connection closed) and the next one
 * is tried. Throws `ErrnoError` on other failures.
 */
export function acceptTcp(backend: Backend, listenFd: number): Accepted | null | "exhausted" {
  for (;;) {
    const fd = backend.libc.accept4(listenFd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      try {
        claimDescriptors(backend, "accept", fd);
      } catch {
        continue;
      }
      return { fd, peer: socketAddress(backend, fd, "peer") };
    }
    const errno = lastErrno(backend);
    if (errno === EINTR || errno === ECONNABORTED) continue;
    if (errno === EAGAIN) return null;
    if (isExhaustion(errno)) return "exhausted";
    throw new ErrnoError(backend, "accept", errno);
  }
}
