/**
 * C library constants this binding passes to `poll`, `epoll`, `eventfd`,
 * `fcntl` and `setsockopt`. They are the Linux values (x86_64 and aarch64
 * share them).
 *
 * @module
 */

export const POLLIN = 0x001;
export const POLLOUT = 0x004;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLNVAL = 0x020;

/** `epoll_create1` flag. epoll's event bits are poll()'s: EPOLLIN = POLLIN, EPOLLOUT = POLLOUT, … */
export const EPOLL_CLOEXEC = 0o2000000;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;

export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;

export const F_GETFL = 3;
export const F_SETFL = 4;
export const O_NONBLOCK = 0o4000;

export const SOL_SOCKET = 1;
export const IPPROTO_TCP = 6;
export const TCP_NODELAY = 1;
export const TCP_QUICKACK = 12;

export const AF_INET = 2;
export const AF_INET6 = 10;

export const F_SETFD = 2;
export const FD_CLOEXEC = 1;

export const SOCK_STREAM = 1;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SO_REUSEADDR = 2;
export const SO_REUSEPORT = 15;
export const SO_ERROR = 4;
export const SHUT_WR = 1;
export const AI_NUMERICSERV = 0x0400;
export const AI_NUMERICHOST = 0x0004;

export const TIOCSWINSZ = 0x5414;
export const FIONREAD = 0x541b;

export const RLIMIT_NOFILE = 7;

export const EINTR = 4;
export const EIO = 5;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EEXIST = 17;
export const ENFILE = 23;
export const EMFILE = 24;
export const ECONNABORTED = 103;
export const ENOBUFS = 105;
export const ETIMEDOUT = 110;
export const EINPROGRESS = 115;
