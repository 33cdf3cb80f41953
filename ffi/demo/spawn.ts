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

/** A child started by `spawnProcess`, with our ends of its stdio pipes. */
export interface SpawnedProcess {
  readonly pid: number;
  /** Readable (POLLIN) once the process exited; close it after `reapProcess`. */
  readonly pidFd: number;
  /** Write end of its stdin (non-blocking, close-on-exec). */
  readonly stdin: number;
  /** Read end of its stdout (non-blocking, close-on-exec). */
  readonly stdout: number;
  /** Read end of its stderr (non-blocking, close-on-exec). */
  readonly stderr: number;
}

/** How a child ended: an exit code, or the number of the signal that killed it. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: number | null;
}

/** Whether this platform has what `spawnProcess` needs (`pidfd_open`: Linux 5.3, glibc 2.36). */
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

/** A NUL-terminated `char *[]` and the bytes it points into (keep both alive during the call). */
function cStringArray(backend: Backend, strings: readonly string[]): {
  pointers: BigUint64Array<ArrayBuffer>;
  bytes: Uint8Array<ArrayBuffer>;
} {
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
const frozenEnvironments = new WeakMap<Readonly<Record<string, string>>, ReturnType<typeof cStringArray>>();

function environmentArray(
  backend: Backend,
  env: Readonly<Record<string, string>>,
): ReturnType<typeof cStringArray> {
  const cached = frozenEnvironments.get(env);
  if (cached) return cached;
  const array = cStringArray(backend, Object.entries(env).map(([k, v]) => `${k}=${v}`));
  if (Object.isFrozen(env)) frozenEnvironments.set(env, array);
  return array;
}

function pipe(backend: Backend): [number, number] {
  const fds = new Int32Array(2);
  if (demoLibc(backend).pipe2(fds, O_CLOEXEC) !== 0) throw new ErrnoError(backend, "pipe2");
  claimDescriptors(backend, "pipe2", fds[0], fds[1]);
  return [fds[0], fds[1]];
}

/**
 * Starts `argv[0]` (searched in PATH) with `argv`, `env` and `cwd`, its stdio
 * on three new pipes, every signal at its default and none blocked, in a
 * session and process group of its own (group id = pid, see `signalProcess`). Throws
 * `ErrnoError` when it cannot start (errno 2: not found).
 */
export function spawnProcess(
  backend: Backend,
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
  cwd?: string,
): SpawnedProcess {
  const libc = demoLibc(backend);
  if (argv.length === 0) throw new TypeError("argv is empty");
  const opened: number[] = [];
  const closeAll = (fds: number[]): void => {
    for (const fd of fds) backend.libc.close(fd);
  };
  const actions = new Uint8Array(SPAWN_STRUCT_BYTES);
  const attributes = new Uint8Array(SPAWN_STRUCT_BYTES);
  try {
    const [stdinRead, stdinWrite] = pipe(backend);
    opened.push(stdinRead, stdinWrite);
    const [stdoutRead, stdoutWrite] = pipe(backend);
    opened.push(stdoutRead, stdoutWrite);
    const [stderrRead, stderrWrite] = pipe(backend);
    opened.push(stderrRead, stderrWrite);

    libc.posix_spawn_file_actions_init(actions);
    // dup2 clears close-on-exec on the copy: only these three reach the child.
    libc.posix_spawn_file_actions_adddup2(actions, stdinRead, 0);
    libc.posix_spawn_file_actions_adddup2(actions, stdoutWrite, 1);
    libc.posix_spawn_file_actions_adddup2(actions, stderrWrite, 2);
    if (cwd !== undefined) {
      if (!libc.posix_spawn_file_actions_addchdir_np) throw new Error("this C library cannot set a cwd");
      libc.posix_spawn_file_actions_addchdir_np(actions, new TextEncoder().encode(`${cwd}\0`));
    }
    libc.posix_spawnattr_init(attributes);
    // The runtime blocks or handles some signals; the command starts clean.
    const all = new Uint8Array(SIGSET_BYTES);
    const none = new Uint8Array(SIGSET_BYTES);
    libc.sigfillset(all);
    libc.sigemptyset(none);
    libc.posix_spawnattr_setsigdefault(attributes, all);
    libc.posix_spawnattr_setsigmask(attributes, none);
    libc.posix_spawnattr_setflags(
      attributes,
      POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID,
    );

    const args = cStringArray(backend, argv);
    const environment = environmentArray(backend, env);
    const pid = new Int32Array(1);
    const file = new TextEncoder().encode(`${argv[0]}\0`);
    const rc = libc.posix_spawnp(pid, file, actions, attributes, args.pointers, environment.pointers);
    if (rc !== 0) throw new ErrnoError(backend, `cannot run ${argv[0]}`, rc);
    closeAll([stdinRead, stdoutWrite, stderrWrite]);
    opened.length = 0;
    opened.push(stdinWrite, stdoutRead, stderrRead);
    const pidFd = libc.pidfd_open!(pid[0], 0);
    try {
      if (pidFd < 0) throw new ErrnoError(backend, "pidfd_open");
      claimDescriptors(backend, "pidfd_open", pidFd);
    } catch (error) {
      libc.kill(pid[0], 9);
      libc.waitpid(pid[0], new Int32Array(1), 0);
      throw error;
    }
    for (const fd of [stdinWrite, stdoutRead, stderrRead]) setNonBlocking(backend, fd);
    return { pid: pid[0], pidFd, stdin: stdinWrite, stdout: stdoutRead, stderr: stderrRead };
  } catch (error) {
    closeAll(opened);
    throw error;
  } finally {
    libc.posix_spawn_file_actions_destroy(actions);
    libc.posix_spawnattr_destroy(attributes);
  }
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
