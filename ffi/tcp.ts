/**
 * TCP sockets this process opens itself (a `Bind`'s listener, the client's
 * connection, the DemoServer's forwarding): name resolution (numeric on the
 * JS thread, names on a worker), non-blocking connect, and listen. What only
 * the DemoServer needs (accepting forwarded connections, a brief wait for a
 * connect) is in `ffi/demo/tcp.ts`.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import { cString } from "./cstring.ts";
import { claimDescriptors, ErrnoError, lastErrno } from "./fd.ts";
import {
  AI_NUMERICHOST,
  AI_NUMERICSERV,
  EINPROGRESS,
  SHUT_WR,
  SO_ERROR,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
} from "./platform.ts";
import { socketAddress } from "./socket.ts";

/** `struct addrinfo` on 64-bit Linux. */
const ADDRINFO = { bytes: 48, flags: 0, family: 4, socktype: 8, addrlen: 16, addr: 24, next: 40 } as const;

/** One address of a host, as `connect()` and `bind()` take it. */
export interface ResolvedAddress {
  readonly family: number;
  readonly sockaddr: Uint8Array<ArrayBuffer>;
}

/**
 * `getaddrinfo`'s arguments in memory that stays put while a worker thread
 * uses it: buffers of their own (never V8's small on-heap arrays, which move).
 */
function lookupArguments(host: string, port: number, flags: number, family = 0): {
  node: Uint8Array<ArrayBuffer>;
  service: Uint8Array<ArrayBuffer>;
  hints: Uint8Array<ArrayBuffer>;
  result: BigUint64Array<ArrayBuffer>;
} {
  const own = (bytes: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> => {
    const copy = new Uint8Array(new ArrayBuffer(Math.max(bytes.length, 128)), 0, bytes.length);
    copy.set(bytes);
    return copy;
  };
  const hints = new Uint8Array(new ArrayBuffer(128), 0, ADDRINFO.bytes);
  const view = new DataView(hints.buffer);
  view.setInt32(ADDRINFO.flags, AI_NUMERICSERV | flags, true);
  view.setInt32(ADDRINFO.family, family, true);
  view.setInt32(ADDRINFO.socktype, SOCK_STREAM, true);
  return {
    node: own(cString(host)),
    service: own(cString(String(port))),
    hints,
    result: new BigUint64Array(new ArrayBuffer(128), 0, 1),
  };
}

/** Reads and frees `getaddrinfo`'s list. */
function addressList(backend: Backend, result: BigUint64Array<ArrayBuffer>): ResolvedAddress[] {
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

/**
 * The addresses of a numeric host, found without any lookup; `localhost`
 * counts as 127.0.0.1 and ::1 (RFC 6761). `null` for a name: resolve it with
 * `lookUp`, which does not hold this thread.
 */
export function numericAddresses(backend: Backend, host: string, port: number): ResolvedAddress[] | null {
  const hosts = host === "localhost" ? ["127.0.0.1", "::1"] : [host];
  const addresses: ResolvedAddress[] = [];
  for (const name of hosts) {
    const args = lookupArguments(name, port, AI_NUMERICHOST);
    if (backend.libc.getaddrinfo(args.node, args.service, args.hints, args.result) !== 0) {
      if (host === "localhost") continue; // a system without IPv6
      return null;
    }
    addresses.push(...addressList(backend, args.result));
  }
  return addresses;
}

/**
 * Resolves a name on a worker thread (a lookup may wait for DNS); throws when
 * it does not resolve. `family` (`AF_INET`, `AF_INET6`) keeps only that family.
 */
export async function lookUp(
  backend: Backend,
  host: string,
  port: number,
  family = 0,
): Promise<ResolvedAddress[]> {
  const args = lookupArguments(host, port, 0, family);
  const rc = await backend.libc.getaddrinfo_async(args.node, args.service, args.hints, args.result);
  if (rc !== 0) throw new Error(`cannot resolve ${host} (getaddrinfo error ${rc})`);
  const addresses = addressList(backend, args.result);
  if (addresses.length === 0) throw new Error(`no address for ${host}`);
  return addresses;
}

function openSocket(backend: Backend, family: number): number {
  const fd = backend.libc.socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new ErrnoError(backend, "socket");
  claimDescriptors(backend, "socket", fd);
  return fd;
}

/**
 * Starts a non-blocking connect to `address` (from the `local` address when
 * given): the descriptor with errno 0
 * (connected) or `EINPROGRESS` (the reactor reports it writable once done:
 * read `connectResult`). On an immediate failure the descriptor is closed and
 * the `ErrnoError` thrown.
 */
export function startConnect(
  backend: Backend,
  address: ResolvedAddress,
  what: string,
  local?: ResolvedAddress,
): {
  fd: number;
  errno: number;
} {
  const fd = openSocket(backend, address.family);
  if (local && backend.libc.bind(fd, local.sockaddr, local.sockaddr.length) !== 0) {
    const error = new ErrnoError(backend, `bind before ${what}`);
    backend.libc.close(fd);
    throw error;
  }
  if (backend.libc.connect(fd, address.sockaddr, address.sockaddr.length) === 0) return { fd, errno: 0 };
  const errno = lastErrno(backend);
  if (errno === EINPROGRESS) return { fd, errno };
  backend.libc.close(fd);
  throw new ErrnoError(backend, what, errno);
}

/** The outcome of a connect once its descriptor turned writable: 0 or its errno. */
export function connectResult(backend: Backend, fd: number): number {
  const error = new Int32Array(1);
  const length = new Uint32Array([4]);
  if (backend.libc.getsockopt(fd, SOL_SOCKET, SO_ERROR, error, length) !== 0) return lastErrno(backend);
  return error[0];
}

/** A listening socket. */
export interface Listener {
  readonly fd: number;
  /** The real port (for port 0). */
  readonly port: number;
}

/** Options of `listenTcp`. */
export interface ListenTcpOptions {
  /** `SO_REUSEPORT`: other sockets with it may listen on the same port; the kernel spreads connections. */
  reusePort?: boolean;
  /** The listen() backlog. Default 128. */
  backlog?: number;
}

/** Listens on `host:port` (an address or `localhost`; port 0 picks a free one); throws on failure. */
export function listenTcp(
  backend: Backend,
  host: string,
  port: number,
  options: ListenTcpOptions = {},
): Listener {
  // Answered inside a libssh callback: no lookup that could wait for DNS.
  const addresses = numericAddresses(backend, host, port);
  if (addresses === null) throw new Error(`${host} is not an address (a name would need a DNS lookup)`);
  let lastError: Error = new Error(`no address for ${host}`);
  for (const address of addresses) {
    const fd = openSocket(backend, address.family);
    backend.libc.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, new Int32Array([1]), 4);
    if (
      options.reusePort && backend.libc.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, new Int32Array([1]), 4) !== 0
    ) {
      lastError = new ErrnoError(backend, "setsockopt(SO_REUSEPORT)");
      backend.libc.close(fd);
      continue;
    }
    if (
      backend.libc.bind(fd, address.sockaddr, address.sockaddr.length) === 0 &&
      backend.libc.listen(fd, options.backlog ?? 128) === 0
    ) {
      const local = socketAddress(backend, fd, "local");
      if (local) return { fd, port: local.port };
    }
    lastError = new ErrnoError(backend, `listen on ${host}:${port}`);
    backend.libc.close(fd);
  }
  throw lastError;
}

/** Sends FIN: no more data from us, while the peer may still send. */
export function shutdownWrite(backend: Backend, fd: number): void {
  backend.libc.shutdown(fd, SHUT_WR);
}
