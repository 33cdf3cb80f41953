/**
 * Non-blocking reads and writes on plain file descriptors (sockets and pty
 * masters that this process owns, not libssh), and `errno`.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import {
  EAGAIN,
  EINTR,
  EIO,
  EMFILE,
  ENFILE,
  ENOBUFS,
  ENOMEM,
  F_GETFL,
  F_SETFD,
  F_SETFL,
  FD_CLOEXEC,
  O_NONBLOCK,
  RLIMIT_NOFILE,
} from "./platform.ts";

/** `read()`/`write()` could not go on without blocking: wait for `poll()`. */
export const WOULD_BLOCK = -1;

/** The calling thread's `errno`. Read it right after the failed call. */
export function lastErrno(backend: Backend): number {
  const bytes = backend.readBytes(backend.libc.__errno_location(), 4);
  return new DataView(bytes.buffer).getInt32(0, true);
}

/** `strerror(errno)`: "Connection refused", … */
export function errnoText(backend: Backend, errno: number): string {
  return backend.readCString(backend.libc.strerror(errno)) ?? `errno ${errno}`;
}

/** An `errno` turned into an Error with the C library's message. */
export class ErrnoError extends Error {
  /** The `errno` value. */
  readonly errno: number;
  constructor(backend: Backend, what: string, errno = lastErrno(backend)) {
    super(`${what}: ${errnoText(backend, errno)}`);
    this.name = "ErrnoError";
    this.errno = errno;
  }
}

/**
 * Makes `send()` return early instead of blocking the JS thread when a slow
 * client's socket buffer is full. libssh only writes after poll reported
 * POLLOUT and only reads after POLLIN, so it never sees EAGAIN.
 */
export function setNonBlocking(backend: Backend, fd: number): boolean {
  const flags = backend.libc.fcntl(fd, F_GETFL, 0);
  return flags >= 0 && backend.libc.fcntl(fd, F_SETFL, flags | O_NONBLOCK) === 0;
}

/**
 * Keeps a socket out of child processes. libssh opens its sockets without
 * close-on-exec, so every `sh -c` a server spawns would otherwise hold the
 * listening socket and its clients' connections open after we close them.
 */
export function setCloseOnExec(backend: Backend, fd: number): boolean {
  return backend.libc.fcntl(fd, F_SETFD, FD_CLOEXEC) === 0;
}

/** Sets `O_NONBLOCK` and `FD_CLOEXEC` on a descriptor we opened; throws when that fails. */
export function prepareFd(backend: Backend, fd: number): void {
  if (!setNonBlocking(backend, fd)) throw new ErrnoError(backend, "fcntl(O_NONBLOCK)");
  if (!setCloseOnExec(backend, fd)) throw new ErrnoError(backend, "fcntl(FD_CLOEXEC)");
}

/**
 * Reads into `buffer`: the byte count, 0 at end of file (a pty master whose
 * terminal is gone reports EIO: also the end), or `WOULD_BLOCK`.
 */
export function readFd(backend: Backend, fd: number, buffer: Uint8Array<ArrayBuffer>): number {
  for (;;) {
    const n = Number(backend.libc.read(fd, buffer, buffer.length));
    if (n >= 0) return n;
    const errno = lastErrno(backend);
    if (errno === EINTR) continue;
    if (errno === EAGAIN) return WOULD_BLOCK;
    if (errno === EIO) return 0;
    throw new ErrnoError(backend, "read", errno);
  }
}

/** Writes what it can of `bytes`: the byte count, or `WOULD_BLOCK`. */
export function writeFd(backend: Backend, fd: number, bytes: Uint8Array<ArrayBuffer>): number {
  for (;;) {
    const n = Number(backend.libc.write(fd, bytes, bytes.length));
    if (n >= 0) return n;
    const errno = lastErrno(backend);
    if (errno === EINTR) continue;
    if (errno === EAGAIN) return WOULD_BLOCK;
    throw new ErrnoError(backend, "write", errno);
  }
}

/** Closes a descriptor. */
export function closeFd(backend: Backend, fd: number): void {
  backend.libc.close(fd);
}

/**
 * Descriptors kept free for the runtime. Deno itself opens files at moments
 * we do not choose (a source map while it formats an error's stack, a child
 * process's pipes): when `open()` fails there, it panics and the whole
 * process dies. So every descriptor this binding makes (accepted connections,
 * sockets, pipes, ptys, pidfds) must stay below the limit minus this many.
 */
const RUNTIME_RESERVE = 32;

/** Whether `errno` says a system resource ran out (descriptors, buffers, memory), not that the call was wrong. */
export function isExhaustion(errno: number): boolean {
  return errno === EMFILE || errno === ENFILE || errno === ENOBUFS || errno === ENOMEM;
}

/** The lowest descriptor number this binding may not keep (see `RUNTIME_RESERVE`). */
function descriptorCeiling(backend: Backend): number {
  const limit = new BigUint64Array(2);
  if (backend.libc.getrlimit(RLIMIT_NOFILE, limit) !== 0) return Number.MAX_SAFE_INTEGER;
  const soft = limit[0] > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(limit[0]);
  return soft - Math.min(RUNTIME_RESERVE, Math.floor(soft / 4));
}

/**
 * Keeps `fds`, just made by `what`, unless one of them eats into the
 * runtime's reserve: then closes them all and throws an `ErrnoError` EMFILE.
 * Descriptors are allocated lowest first, so a number at the ceiling means
 * fewer than the reserve are free.
 */
export function claimDescriptors(backend: Backend, what: string, ...fds: number[]): void {
  const ceiling = descriptorCeiling(backend);
  if (fds.every((fd) => fd < ceiling)) return;
  for (const fd of fds) backend.libc.close(fd);
  throw new ErrnoError(backend, what, EMFILE);
}
