/**
 * A connected pair of sockets: a client session through a jump host gives
 * libssh one end and copies the other to and from a channel of the jump
 * session.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import { ErrnoError } from "./fd.ts";
import { SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM } from "./platform.ts";

const AF_UNIX = 1;

/** A connected pair of non-blocking, close-on-exec Unix stream sockets. */
export function socketPair(backend: Backend): [number, number] {
  const fds = new Int32Array(2);
  if (backend.libc.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) !== 0) {
    throw new ErrnoError(backend, "socketpair");
  }
  return [fds[0], fds[1]];
}
