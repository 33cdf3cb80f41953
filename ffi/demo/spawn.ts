/**
 * Starting child processes with `posix_spawnp` and watching them with a
 * pidfd, so that a server can run commands without the runtime's process API.
 *
 * Why: Deno's and Node's child processes fork the whole runtime (page tables
 * of a large process: ~1.5 ms of CPU per command) and wrap each pipe in
 * stream objects with 64 KiB read buffers. `posix_spawn` uses vfork-like
 * cloning, and the pipes are plain non-blocking descriptors the reactor polls.
 * The runtime does not know these children, so it never reaps them: we do,
 * with `waitpid` once the pidfd reports the exit.
 *
 * The same functions start commands in the DemoServer's spawner process
 * (`spawner_main.ts`), which holds few descriptors.
 *
 * Linux only (pidfd); `nativeSpawnAvailable()` says whether it can be used.
 * The C functions come from the DemoServer's own table (`ffi/demo/symbols.ts`).
 *
 * @module
 */

import process from "node:process";
import type { Backend } from "../backend.ts";
import { claimDescriptors, ErrnoError, isExhaustion, lastErrno, setNonBlocking } from "../fd.ts";
import { demoLibc } from "./libc.ts";

/** `O_CLOEXEC` for `pipe2`: no other child inherits our ends. */
const O_CLOEXEC = 0o2000000;
const WNOHANG = 1;
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
/** glibc >= 2.26: the child calls setsid(), so it leads a session and process group of its own. */
const POSIX_SPAWN_SETSID = 0x80;
/** Room for glibc's `posix_spawn_file_actions_t` (80 bytes) and `posix_spawnattr_t` (336). */
const SPAWN_STRUCT_BYTES = 512;
/** `sigset_t` is 128 bytes on Linux. */
const SIGSET_BYTES = 128;

/** Our ends of a command's three stdio pipes, and the child's. */
export interface StdioPipes {
  /** Write end of its stdin (non-blocking, close-on-exec). */
  readonly stdin: number;
  /** Read end of its stdout (non-blocking, close-on-exec). */
  readonly stdout: number;
  /** Read end of its stderr (non-blocking, close-on-exec). */
  readonly stderr: number;
  /** The child's ends, its descriptors 0, 1 and 2 (close-on-exec here: close them once it started). */
  readonly child: readonly [number, number, number];
}

/**
 * What a new process gets as its descriptors: `fds[i]` becomes its
 * descriptor `i` (`null`: `/dev/null`), or a terminal opened by path as 0, 1
 * and 2, which makes it the process's controlling terminal (it leads a new
 * session and has none yet).
 */
export type ChildStdio =
  | { readonly fds: readonly (number | null)[] }
  | { readonly terminal: string };

/** How a child ended: an exit code, or the number of the signal that killed it. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: number | null;
}

/** Whether this platform has what `startProcess` and `openPidFd` need (`pidfd_open`: Linux 5.3, glibc 2.36). */
export function nativeSpawnAvailable(backend: Backend): boolean {
  const { pidfd_open } = demoLibc(backend);
  if (!pidfd_open) return false;
  // A pidfd of ourselves tells whether the kernel has the system call (out of
  // descriptors, it still has it).
  const fd = pidfd_open(process.pid, 0);
  if (fd < 0) return isExhaustion(lastErrno(backend));
  backend.libc.close(fd);
  return true;
}

/** A NUL-terminated `char *[]` and the bytes it points into: keep it whole while a call uses `pointers`. */
export interface CStringArray {
  readonly pointers: BigUint64Array<ArrayBuffer>;
  readonly bytes: Uint8Array<ArrayBuffer>;
}

function cStringArray(backend: Backend, strings: readonly string[]): CStringArray {
  const encoder = new TextEncoder();
  const encoded = strings.map((s) => encoder.encode(s));
  const bytes = new Uint8Array(encoded.reduce((n, e) => n + e.length + 1, 0) || 1);
  const base = backend.address(backend.pointerOf(bytes));
  const pointers = new BigUint64Array(strings.length + 1);
  let offset = 0;
  encoded.forEach((e, i) => {
    if (e.includes(0)) throw new TypeError("arguments and environment may not contain NUL");
    bytes.set(e, offset);
    pointers[i] = base + BigInt(offset);
    offset += e.length + 1;
  });
  return { pointers, bytes };
}

/** Encoded environments of frozen objects: a server passing the same one to every command encodes it once. */
const frozenEnvironments = new WeakMap<Readonly<Record<string, string>>, CStringArray>();

/** `NAME=value` strings of an environment object. */
export function environmentEntries(env: Readonly<Record<string, string>>): string[] {
  return Object.entries(env).map(([name, value]) => `${name}=${value}`);
}

/**
 * An environment as `envp`: from `NAME=value` strings, or from an object
 * (encoded once if it is frozen, see `frozenEnvironments`).
 */
export function encodeEnvironment(
  backend: Backend,
  env: Readonly<Record<string, string>> | readonly string[],
): CStringArray {
  if (Array.isArray(env)) return cStringArray(backend, env);
  const object = env as Readonly<Record<string, string>>;
  const cached = frozenEnvironments.get(object);
  if (cached) return cached;
  const array = cStringArray(backend, environmentEntries(object));
  if (Object.isFrozen(object)) frozenEnvironments.set(object, array);
  return array;
}

function pipe(backend: Backend): [number, number] {
  const fds = new Int32Array(2);
  if (demoLibc(backend).pipe2(fds, O_CLOEXEC) !== 0) throw new ErrnoError(backend, "pipe2");
  claimDescriptors(backend, "pipe2", fds[0], fds[1]);
  return [fds[0], fds[1]];
}

/** Three pipes for a command's stdin, stdout and stderr; throws `ErrnoError` (all closed) when it cannot. */
export function openPipes(backend: Backend): StdioPipes {
  const opened: number[] = [];
  try {
    const [stdinRead, stdinWrite] = pipe(backend);
    opened.push(stdinRead, stdinWrite);
    const [stdoutRead, stdoutWrite] = pipe(backend);
    opened.push(stdoutRead, stdoutWrite);
    const [stderrRead, stderrWrite] = pipe(backend);
    opened.push(stderrRead, stderrWrite);
    for (const fd of [stdinWrite, stdoutRead, stderrRead]) setNonBlocking(backend, fd);
    return {
      stdin: stdinWrite,
      stdout: stdoutRead,
      stderr: stderrRead,
      child: [stdinRead, stdoutWrite, stderrWrite],
    };
  } catch (error) {
    for (const fd of opened) backend.libc.close(fd);
    throw error;
  }
}

const O_RDWR = 2;
const encodePath = (path: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(`${path}\0`);

/**
 * Starts `argv[0]` (searched in PATH) with `argv`, the environment `env`
 * (see `encodeEnvironment`) and `cwd`, with `stdio` as its descriptors
 * (only those: ours are close-on-exec), every signal at its default and none
 * blocked, in a session and process group of its own (group id = pid, see
 * `signalProcess`). Returns its pid; the caller still owns the descriptors in
 * `stdio`. Throws `ErrnoError` when it cannot start (errno 2: not found).
 * A descriptor in `stdio.fds` must not be one of the numbers it is given as
 * (but its own: 2 as 2), since the copies are made in order.
 */
export function startProcess(
  backend: Backend,
  argv: readonly string[],
  env: CStringArray,
  cwd: string | undefined,
  stdio: ChildStdio,
): number {
  const libc = demoLibc(backend);
  if (argv.length === 0) throw new TypeError("argv is empty");
  const actions = new Uint8Array(SPAWN_STRUCT_BYTES);
  libc.posix_spawn_file_actions_init(actions);
  try {
    if ("terminal" in stdio) {
      // Opened after setsid(): a session leader without a terminal acquires the first it opens.
      libc.posix_spawn_file_actions_addopen(actions, 0, encodePath(stdio.terminal), O_RDWR, 0);
      libc.posix_spawn_file_actions_adddup2(actions, 0, 1);
      libc.posix_spawn_file_actions_adddup2(actions, 0, 2);
    } else {
      const devNull = encodePath("/dev/null");
      stdio.fds.forEach((fd, target) => {
        // dup2 clears close-on-exec on the copy: only these reach the child.
        if (fd === null) libc.posix_spawn_file_actions_addopen(actions, target, devNull, O_RDWR, 0);
        else libc.posix_spawn_file_actions_adddup2(actions, fd, target);
      });
    }
    if (cwd !== undefined) {
      if (!libc.posix_spawn_file_actions_addchdir_np) throw new Error("this C library cannot set a cwd");
      libc.posix_spawn_file_actions_addchdir_np(actions, encodePath(cwd));
    }
    const args = cStringArray(backend, argv);
    const pid = new Int32Array(1);
    const rc = libc.posix_spawnp(
      pid,
      encodePath(argv[0]),
      actions,
      attributes(backend),
      args.pointers,
      env.pointers,
    );
    if (rc !== 0) throw new ErrnoError(backend, `cannot run ${argv[0]}`, rc);
    return pid[0];
  } finally {
    libc.posix_spawn_file_actions_destroy(actions);
  }
}

let spawnAttributes: Uint8Array<ArrayBuffer> | undefined;

/**
 * The attributes of every process `startProcess` starts, made once (a
 * `posix_spawnattr_t` may serve any number of spawns): every signal at its
 * default and none blocked (the runtime blocks or handles some; the command
 * starts clean), and a session of its own.
 */
function attributes(backend: Backend): Uint8Array<ArrayBuffer> {
  if (spawnAttributes) return spawnAttributes;
  const libc = demoLibc(backend);
  const made = new Uint8Array(SPAWN_STRUCT_BYTES);
  libc.posix_spawnattr_init(made);
  const all = new Uint8Array(SIGSET_BYTES);
  const none = new Uint8Array(SIGSET_BYTES);
  libc.sigfillset(all);
  libc.sigemptyset(none);
  libc.posix_spawnattr_setsigdefault(made, all);
  libc.posix_spawnattr_setsigmask(made, none);
  libc.posix_spawnattr_setflags(made, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID);
  return spawnAttributes = made;
}

/**
 * A pidfd of our child `pid`: readable (POLLIN) once it exited. When none
 * can be had, kills and reaps the child and throws `ErrnoError`.
 */
export function openPidFd(backend: Backend, pid: number): number {
  const libc = demoLibc(backend);
  const pidFd = libc.pidfd_open!(pid, 0);
  try {
    if (pidFd < 0) throw new ErrnoError(backend, "pidfd_open");
    claimDescriptors(backend, "pidfd_open", pidFd);
  } catch (error) {
    libc.kill(pid, 9);
    libc.waitpid(pid, new Int32Array(1), 0);
    throw error;
  }
  return pidFd;
}

/** Collects a child's exit status without blocking; undefined while it still runs. */
export function reapProcess(backend: Backend, pid: number): ProcessExit | undefined {
  const status = new Int32Array(1);
  if (demoLibc(backend).waitpid(pid, status, WNOHANG) !== pid) return undefined;
  const s = status[0];
  const termSignal = s & 0x7f;
  return termSignal === 0 ? { code: (s >> 8) & 0xff, signal: null } : { code: null, signal: termSignal };
}

/** Sends signal number `signal` to `pid` (a negative pid: its whole process group); false when it is gone. */
export function signalProcess(backend: Backend, pid: number, signal: number): boolean {
  return demoLibc(backend).kill(pid, signal) === 0;
}
