/**
 * Packets with descriptors attached: the DemoServer and its spawner process
 * talk over a `SOCK_SEQPACKET` Unix socket pair (one message per packet,
 * kept whole), and a spawn request carries the command's ends of its pipes
 * as `SCM_RIGHTS`.
 *
 * `struct msghdr`, `struct iovec` and `struct cmsghdr` are laid out here as on
 * 64-bit Linux (x86_64 and aarch64 alike), the only systems the DemoServer's
 * native processes run on (`pidfd_open`).
 *
 * @module
 */

import type { Backend } from "../backend.ts";
import { claimDescriptors, ErrnoError, lastErrno, WOULD_BLOCK } from "../fd.ts";
import { EAGAIN, EINTR, SOCK_CLOEXEC, SOL_SOCKET } from "../platform.ts";
import { demoLibc } from "./libc.ts";

const AF_UNIX = 1;
const SOCK_SEQPACKET = 5;
const SCM_RIGHTS = 1;
const MSG_TRUNC = 0x20;
const MSG_CTRUNC = 0x08;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const MSG_CMSG_CLOEXEC = 0x40000000;
const EMSGSIZE = 90;

/** Descriptors one packet may carry (a command's stdin, stdout and stderr). */
export const MAX_PASSED_FDS = 3;

/** `struct msghdr`: name, namelen, iov, iovlen, control, controllen, flags (56 bytes). */
const MSGHDR_BYTES = 56;
const MSG_IOV = 16;
const MSG_IOVLEN = 24;
const MSG_CONTROL = 32;
const MSG_CONTROLLEN = 40;
const MSG_FLAGS = 48;
/** `struct cmsghdr`: len (size_t), level, type, then the data at 16. */
const CMSG_DATA = 16;
/** `CMSG_SPACE(MAX_PASSED_FDS * 4)`: the header and the descriptors, rounded up to 8. */
const CONTROL_BYTES = CMSG_DATA + Math.ceil((MAX_PASSED_FDS * 4) / 8) * 8;

/**
 * One `msghdr`, `iovec` and control buffer per process, reused by every call
 * (all calls run on the JS thread, one at a time). Their addresses go into
 * each other, so they are made once and kept.
 */
class MessageHeader {
  readonly header = new Uint8Array(MSGHDR_BYTES);
  readonly vector = new Uint8Array(64);
  readonly control = new Uint8Array(64);
  readonly #headerView = new DataView(this.header.buffer);
  readonly #vectorView = new DataView(this.vector.buffer);
  readonly controlView = new DataView(this.control.buffer);
  readonly #backend: Backend;

  constructor(backend: Backend) {
    this.#backend = backend;
    this.#headerView.setBigUint64(MSG_IOV, backend.address(backend.pointerOf(this.vector)), true);
    this.#headerView.setBigUint64(MSG_IOVLEN, 1n, true);
  }

  /** Points the one `iovec` at `bytes` and the control buffer at `controlLength` bytes (0: none). */
  prepare(bytes: Uint8Array<ArrayBuffer>, controlLength: number): void {
    const address = this.#backend.address(this.#backend.pointerOf(bytes));
    this.#vectorView.setBigUint64(0, address, true);
    this.#vectorView.setBigUint64(8, BigInt(bytes.length), true);
    const control = controlLength === 0 ? 0n : this.#backend.address(this.#backend.pointerOf(this.control));
    this.#headerView.setBigUint64(MSG_CONTROL, control, true);
    this.#headerView.setBigUint64(MSG_CONTROLLEN, BigInt(controlLength), true);
    this.#headerView.setInt32(MSG_FLAGS, 0, true);
  }

  get flags(): number {
    return this.#headerView.getInt32(MSG_FLAGS, true);
  }

  get controlLength(): number {
    return Number(this.#headerView.getBigUint64(MSG_CONTROLLEN, true));
  }
}

let header: MessageHeader | undefined;
const messageHeader = (backend: Backend): MessageHeader => header ??= new MessageHeader(backend);

/**
 * A connected pair of `SOCK_SEQPACKET` Unix sockets, both close-on-exec and
 * blocking (make ours non-blocking with `setNonBlocking`).
 */
export function packetSocketPair(backend: Backend): [number, number] {
  const fds = new Int32Array(2);
  if (backend.libc.socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) !== 0) {
    throw new ErrnoError(backend, "socketpair");
  }
  claimDescriptors(backend, "socketpair", fds[0], fds[1]);
  return [fds[0], fds[1]];
}

/**
 * Sends `bytes` as one packet with `fds` attached (duplicated into the
 * packet: the caller still owns and closes its own). Returns the byte count
 * or `WOULD_BLOCK` (a non-blocking socket whose buffer is full: wait for
 * POLLOUT); throws `ErrnoError` otherwise (EMSGSIZE: larger than the
 * socket's buffer can ever hold; EPIPE: the peer is gone).
 */
export function sendPacket(
  backend: Backend,
  socket: number,
  bytes: Uint8Array<ArrayBuffer>,
  fds: readonly number[] = [],
): number {
  if (fds.length > MAX_PASSED_FDS) throw new RangeError(`at most ${MAX_PASSED_FDS} descriptors per packet`);
  const message = messageHeader(backend);
  const controlLength = fds.length === 0 ? 0 : CMSG_DATA + Math.ceil((fds.length * 4) / 8) * 8;
  message.prepare(bytes, controlLength);
  if (fds.length > 0) {
    const view = message.controlView;
    view.setBigUint64(0, BigInt(CMSG_DATA + fds.length * 4), true); // CMSG_LEN
    view.setInt32(8, SOL_SOCKET, true);
    view.setInt32(12, SCM_RIGHTS, true);
    fds.forEach((fd, i) => view.setInt32(CMSG_DATA + i * 4, fd, true));
  }
  for (;;) {
    const n = Number(demoLibc(backend).sendmsg(socket, message.header, MSG_NOSIGNAL));
    if (n >= 0) return n;
    const errno = lastErrno(backend);
    if (errno === EINTR) continue;
    if (errno === EAGAIN) return WOULD_BLOCK;
    throw new ErrnoError(backend, errno === EMSGSIZE ? `a ${bytes.length}-byte packet` : "sendmsg", errno);
  }
}

/** A packet received by `receivePacket`. */
export interface ReceivedPacket {
  /** Its bytes (a view of the caller's buffer). */
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** The descriptors that came with it, now ours (close-on-exec). */
  readonly fds: number[];
}

/**
 * Receives one packet into `buffer` without waiting: the packet, `null` at
 * end of file (the peer closed its end), or `WOULD_BLOCK`. A packet larger
 * than `buffer`, or with more than `MAX_PASSED_FDS` descriptors, throws (its
 * descriptors closed): the two ends disagree on the protocol.
 */
export function receivePacket(
  backend: Backend,
  socket: number,
  buffer: Uint8Array<ArrayBuffer>,
): ReceivedPacket | null | typeof WOULD_BLOCK {
  const message = messageHeader(backend);
  for (;;) {
    message.prepare(buffer, CONTROL_BYTES);
    const n = Number(demoLibc(backend).recvmsg(socket, message.header, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
    if (n < 0) {
      const errno = lastErrno(backend);
      if (errno === EINTR) continue;
      if (errno === EAGAIN) return WOULD_BLOCK;
      throw new ErrnoError(backend, "recvmsg", errno);
    }
    const fds: number[] = [];
    const view = message.controlView;
    if (
      message.controlLength >= CMSG_DATA && view.getInt32(8, true) === SOL_SOCKET &&
      view.getInt32(12, true) === SCM_RIGHTS
    ) {
      const count = (Number(view.getBigUint64(0, true)) - CMSG_DATA) / 4;
      for (let i = 0; i < count; i++) fds.push(view.getInt32(CMSG_DATA + i * 4, true));
    }
    if (message.flags & (MSG_TRUNC | MSG_CTRUNC)) {
      for (const fd of fds) backend.libc.close(fd);
      throw new Error(`a packet over ${buffer.length} bytes or ${MAX_PASSED_FDS} descriptors`);
    }
    if (n === 0 && fds.length === 0) return null;
    return { bytes: buffer.subarray(0, n), fds };
  }
}
