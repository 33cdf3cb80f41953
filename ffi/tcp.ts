/**
 * TCP sockets this process opens itself (the DemoServer's port forwarding):
 * name resolution, connect with a deadline, listen and accept.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import { cString } from "./cstring.ts";
import { ErrnoError, lastErrno } from "./fd.ts";
import {
  AI_NUMERICSERV,
  EAGAIN,
  EINPROGRESS,
  EINTR,
  ETIMEDOUT,
  POLLOUT,
  SHUT_WR,
  SO_ERROR,
  SO_REUSEADDR,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
} from "./platform.ts";
import { POLLFD_BYTES } from "./structs.ts";
import { type SocketAddress, socketAddress } from "./socket.ts";

/** `struct addrinfo` on 64-bit Linux. */
const ADDRINFO = { bytes: 48, flags: 0, family: 4, socktype: 8, addrlen: 16, addr: 24, next: 40 } as const;

/** One address `getaddrinfo` gave: its family and its `struct sockaddr`. */
export interface ResolvedAddress {
  family: number;
  sockaddr: Uint8Array<ArrayBuffer>;
}

/** The `hints` of a TCP lookup with a numeric port; `family` 0 takes any. */
export function tcpHints(family = 0): Uint8Array<ArrayBuffer> {
  const hints = new Uint8Array(ADDRINFO.bytes);
  const view = new DataView(hints.buffer);
  view.setInt32(ADDRINFO.flags, AI_NUMERICSERV, true);
  view.setInt32(ADDRINFO.family, family, true);
  view.setInt32(ADDRINFO.socktype, SOCK_STREAM, true);
  return hints;
}

/** Copies the addresses of the `getaddrinfo` result list in `result`, then frees the list. */
export function takeAddrinfo(backend: Backend, result: BigUint64Array<ArrayBuffer>): ResolvedAddress[] {
  const first = backend.pointerAt(result[0]);
  const addresses: ResolvedAddress[] = [];
  try {
    for (let entry = first; entry !== null;) {
      const info = new DataView(backend.readBytes(entry, ADDRINFO.bytes).buffer);
      const addrlen = info.getUint32(ADDRINFO.addrlen, true);
      const addr = backend.pointerAt(info.getBigUint64(ADDRINFO.addr, true));
      if (addr !== null) {
        addresses.push({
          family: info.getInt32(ADDRINFO.family, true),
          sockaddr: backend.readBytes(addr, addrlen),
        });
      }
      entry = backend.pointerAt(info.getBigUint64(ADDRINFO.next, true));
    }
  } finally {
    backend.libc.freeaddrinfo(first);
  }
  return addresses;
}

/** Resolves `host` (a name or a numeric address) for a TCP `port`; throws on failure. */
function resolve(backend: Backend, host: string, port: number): ResolvedAddress[] {
  const result = new BigUint64Array(1);
  const rc = backend.libc.getaddrinfo(cString(host), cString(String(port)), tcpHints(), result);
  if (rc !== 0) throw new Error(`cannot resolve ${host} (getaddrinfo error ${rc})`);
  return takeAddrinfo(backend, result);
}

function openSocket(backend: Backend, family: number): number {
  const fd = backend.libc.socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new ErrnoError(backend, "socket");
  return fd;
}

/** Waits up to `timeoutMs` for a non-blocking connect; returns its errno (0: connected). */
function finishConnect(backend: Backend, fd: number, timeoutMs: number): number {
  const pollfd = new Uint8Array(POLLFD_BYTES);
  const view = new DataView(pollfd.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, POLLOUT, true);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = backend.libc.poll_now(pollfd, 1n, Math.max(0, deadline - Date.now()));
    if (ready > 0) break;
    if (ready === 0) return ETIMEDOUT;
    if (lastErrno(backend) !== EINTR) return lastErrno(backend);
  }
  const error = new Int32Array(1);
  const length = new Uint32Array([4]);
  if (backend.libc.getsockopt(fd, SOL_SOCKET, SO_ERROR, error, length) !== 0) return lastErrno(backend);
  return error[0];
}

/**
 * Connects to `host:port`, trying each address in turn, within `timeoutMs`.
 * Returns a non-blocking descriptor; throws an `ErrnoError` ("Connection
 * refused", …) or an `Error` when the name does not resolve.
 *
 * This waits on the calling thread: a loopback connect answers at once, a
 * remote one within the deadline.
 */
export function connectTcp(backend: Backend, host: string, port: number, timeoutMs: number): number {
  let lastError: Error = new Error(`no address for ${host}`);
  for (const address of resolve(backend, host, port)) {
    const fd = openSocket(backend, address.family);
    let errno = 0;
    if (backend.libc.connect(fd, address.sockaddr, address.sockaddr.length) !== 0) {
      errno = lastErrno(backend);
      if (errno === EINPROGRESS) errno = finishConnect(backend, fd, timeoutMs);
    }
    if (errno === 0) return fd;
    backend.libc.close(fd);
    lastError = new ErrnoError(backend, `connect to ${host}:${port}`, errno);
  }
  throw lastError;
}

/** A listening socket. */
export interface Listener {
  readonly fd: number;
  /** The real port (for port 0). */
  readonly port: number;
}

/** Listens on `host:port` (port 0 picks a free one); throws on failure. */
export function listenTcp(backend: Backend, host: string, port: number): Listener {
  let lastError: Error = new Error(`no address for ${host}`);
  for (const address of resolve(backend, host, port)) {
    const fd = openSocket(backend, address.family);
    backend.libc.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, new Int32Array([1]), 4);
    if (
      backend.libc.bind(fd, address.sockaddr, address.sockaddr.length) === 0 &&
      backend.libc.listen(fd, 128) === 0
    ) {
      const local = socketAddress(backend, fd, "local");
      if (local) return { fd, port: local.port };
    }
    lastError = new ErrnoError(backend, `listen on ${host}:${port}`);
    backend.libc.close(fd);
  }
  throw lastError;
}

/** An accepted connection. */
export interface Accepted {
  readonly fd: number;
  readonly peer: SocketAddress | null;
}

/** Accepts one pending connection (non-blocking); `null` when none is waiting. */
export function acceptTcp(backend: Backend, listenFd: number): Accepted | null {
  for (;;) {
    const fd = backend.libc.accept4(listenFd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return { fd, peer: socketAddress(backend, fd, "peer") };
    const errno = lastErrno(backend);
    if (errno === EINTR) continue;
    if (errno === EAGAIN) return null;
    throw new ErrnoError(backend, "accept", errno);
  }
}

/** Sends FIN: no more data from us, while the peer may still send. */
export function shutdownWrite(backend: Backend, fd: number): void {
  backend.libc.shutdown(fd, SHUT_WR);
}
