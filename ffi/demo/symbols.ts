/**
 * The C functions only the DemoServer calls (its processes, terminals and
 * forwarding), in the same `Deno.dlopen` format as `ffi/symbols.ts`: a second
 * table, bound by `demoLibc()` on the DemoServer's first use, so that the
 * library's own `native()` binds none of them. Both backends bind it as they
 * bind the library's table.
 *
 * @module
 */

import type { ForeignFunction } from "../symbols.ts";

/** The C library's functions the DemoServer adds to the library's. */
export const demoLibcSymbols = {
  // ---- forwarding (tcp.ts) ----
  poll_now: {
    // The same poll(), run on the JS thread: only with a short timeout, where
    // an answer is needed before a libssh callback returns.
    name: "poll",
    parameters: [
      "buffer", // struct pollfd *fds
      "u64", // nfds_t nfds
      "i32", // int timeout
    ],
    result: "i32",
  },
  // ---- terminals (pty.ts) ----
  openpty: {
    parameters: [
      "buffer", // int *amaster
      "buffer", // int *aslave
      "buffer", // char *name (NULL)
      "buffer", // const struct termios *termp (NULL)
      "buffer", // const struct winsize *winp
    ],
    result: "i32",
  },
  ttyname_r: {
    parameters: [
      "i32", // int fd
      "buffer", // char *buf
      "usize", // size_t buflen
    ],
    result: "i32",
  },
  // ---- processes (spawn.ts) ----
  pipe2: {
    parameters: [
      "buffer", // int pipefd[2]
      "i32", // int flags
    ],
    result: "i32",
  },
  posix_spawnp: {
    parameters: [
      "buffer", // pid_t *pid
      "buffer", // const char *file
      "buffer", // const posix_spawn_file_actions_t *file_actions
      "buffer", // const posix_spawnattr_t *attrp
      "buffer", // char *const argv[]
      "buffer", // char *const envp[]
    ],
    result: "i32",
  },
  posix_spawn_file_actions_init: {
    parameters: ["buffer"], // posix_spawn_file_actions_t *file_actions
    result: "i32",
  },
  posix_spawn_file_actions_adddup2: {
    parameters: [
      "buffer", // posix_spawn_file_actions_t *file_actions
      "i32", // int fd
      "i32", // int newfd
    ],
    result: "i32",
  },
  posix_spawn_file_actions_addopen: {
    parameters: [
      "buffer", // posix_spawn_file_actions_t *file_actions
      "i32", // int fd
      "buffer", // const char *path
      "i32", // int oflag
      "u32", // mode_t mode
    ],
    result: "i32",
  },
  posix_spawn_file_actions_addchdir_np: {
    parameters: [
      "buffer", // posix_spawn_file_actions_t *file_actions
      "buffer", // const char *path
    ],
    result: "i32",
    optional: true, // glibc >= 2.29
  },
  posix_spawn_file_actions_destroy: {
    parameters: ["buffer"], // posix_spawn_file_actions_t *file_actions
    result: "i32",
  },
  posix_spawnattr_init: {
    parameters: ["buffer"], // posix_spawnattr_t *attr
    result: "i32",
  },
  posix_spawnattr_setflags: {
    parameters: [
      "buffer", // posix_spawnattr_t *attr
      "i16", // short flags
    ],
    result: "i32",
  },
  posix_spawnattr_setsigmask: {
    parameters: [
      "buffer", // posix_spawnattr_t *attr
      "buffer", // const sigset_t *sigmask
    ],
    result: "i32",
  },
  posix_spawnattr_setsigdefault: {
    parameters: [
      "buffer", // posix_spawnattr_t *attr
      "buffer", // const sigset_t *sigdefault
    ],
    result: "i32",
  },
  sigemptyset: {
    parameters: ["buffer"], // sigset_t *set
    result: "i32",
  },
  sigfillset: {
    parameters: ["buffer"], // sigset_t *set
    result: "i32",
  },
  pidfd_open: {
    parameters: [
      "i32", // pid_t pid
      "u32", // unsigned int flags
    ],
    result: "i32",
    optional: true, // glibc >= 2.36, Linux >= 5.3
  },
  waitpid: {
    parameters: [
      "i32", // pid_t pid
      "buffer", // int *wstatus
      "i32", // int options
    ],
    result: "i32",
  },
  kill: {
    parameters: [
      "i32", // pid_t pid
      "i32", // int sig
    ],
    result: "i32",
  },
  // ---- the spawner process (fd_passing.ts, spawner_main.ts) ----
  sendmsg: {
    parameters: [
      "i32", // int sockfd
      "buffer", // const struct msghdr *msg
      "i32", // int flags
    ],
    result: "isize",
  },
  recvmsg: {
    parameters: [
      "i32", // int sockfd
      "buffer", // struct msghdr *msg
      "i32", // int flags
    ],
    result: "isize",
  },
  epoll_wait_now: {
    // The same epoll_wait(), run on the JS thread: only in the spawner process,
    // whose JS thread has nothing else to do than wait for requests and exits.
    name: "epoll_wait",
    parameters: [
      "i32", // int epfd
      "buffer", // struct epoll_event *events
      "i32", // int maxevents
      "i32", // int timeout
    ],
    result: "i32",
  },
} as const satisfies Record<string, ForeignFunction>;
