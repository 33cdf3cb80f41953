/**
 * Socket options and addresses of the sockets libssh owns.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import { AF_INET, AF_INET6, FIONREAD, IPPROTO_TCP, TCP_NODELAY, TCP_QUICKACK } from "./platform.ts";

/** An IP endpoint. */
export interface SocketAddress {
  /** `"127.0.0.1"`, `"::1"`, … */
  readonly address: string;
  /** TCP port. */
  readonly port: number;
  /** Address family. */
  readonly family: "IPv4" | "IPv6";
}

const ONE = new Int32Array([1]);

function setIntOption(backend: Backend, fd: number, level: number, option: number): boolean {
  return backend.libc.setsockopt(fd, level, option, ONE, 4) === 0;
}

/** Sends small packets at once: SSH is request/response. */
export function setNoDelay(backend: Backend, fd: number): boolean {
  return setIntOption(backend, fd, IPPROTO_TCP, TCP_NODELAY);
}

/**
 * Acknowledges the next segments at once. Linux clears this flag by itself,
 * so it is set again before each read during the handshake; without it
 * OpenSSH clients stall ~40 ms per round trip on delayed ACKs.
 */
export function setQuickAck(backend: Backend, fd: number): boolean {
  return setIntOption(backend, fd, IPPROTO_TCP, TCP_QUICKACK);
}

/** Bytes that arrived on a socket and were not read yet (0 when unknown). */
export function bytesWaiting(backend: Backend, fd: number): number {
  const count = new Int32Array(1);
  return backend.libc.ioctl(fd, BigInt(FIONREAD), count) === 0 ? count[0] : 0;
}

function formatIPv6(bytes: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  if (groups.slice(0, 5).every((g) => g === "0") && groups[5] === "ffff") {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  // The longest run of zero groups becomes "::".
  let bestStart = -1, bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLength && j - i > 1) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  if (bestStart < 0) return groups.join(":");
  return `${groups.slice(0, bestStart).join(":")}::${groups.slice(bestStart + bestLength).join(":")}`;
}

/** The address in a `struct sockaddr` (IPv4 or IPv6); null for other families. */
export function sockaddrAddress(storage: Uint8Array<ArrayBuffer>): SocketAddress | null {
  const view = new DataView(storage.buffer, storage.byteOffset, storage.byteLength);
  const family = view.getUint16(0, true);
  const port = view.getUint16(2, false);
  if (family === AF_INET) {
    return { address: storage.subarray(4, 8).join("."), port, family: "IPv4" };
  }
  if (family === AF_INET6) {
    return { address: formatIPv6(storage.subarray(8, 24)), port, family: "IPv6" };
  }
  return null;
}

/** The local (`getsockname`) or remote (`getpeername`) address of a socket; null when unknown. */
export function socketAddress(backend: Backend, fd: number, side: "local" | "peer"): SocketAddress | null {
  const storage = new Uint8Array(128); // struct sockaddr_storage
  const length = new Uint32Array([storage.length]);
  const call = side === "local" ? backend.libc.getsockname : backend.libc.getpeername;
  if (fd < 0 || call(fd, storage, length) !== 0) return null;
  return sockaddrAddress(storage);
}
