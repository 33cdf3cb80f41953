/**
 * The DemoServer's spawner process: the program that starts the DemoServer's
 * commands, so that they are not spawned from a process holding thousands of
 * descriptors (`posix_spawn` clones the whole descriptor table, and the child
 * closes every close-on-exec one at `exec`: about 1 ms per command with
 * 10,000 sessions held). This process holds a dozen.
 *
 * Started by the DemoServer (`src/demo/spawner.ts`) with its end of a
 * `SOCK_SEQPACKET` socket pair as descriptor 3; speaks `spawner_protocol.ts`.
 * It is the commands' parent: it watches each with a pidfd, reaps it and
 * reports how it ended. At end of file on its socket (the DemoServer closed,
 * or its process died) it kills what still runs and exits.
 *
 * Its JS thread does nothing but this loop, so it waits in `epoll_wait` on
 * that thread (no worker thread to hand each event over): asleep, it uses no
 * CPU. Its replies are sent blocking: while the DemoServer does not read
 * them, it reads no further request (the socket's buffers are its only
 * queues).
 *
 * @module
 */

import process from "node:process";
import { native } from "../load.ts";
import { closeFd, ErrnoError, lastErrno, setCloseOnExec, WOULD_BLOCK } from "../fd.ts";
import { EINTR, EPOLL_CLOEXEC, EPOLL_CTL_ADD, EPOLL_CTL_DEL, POLLIN } from "../platform.ts";
import { epollEventLayout } from "../structs.ts";
import { receivePacket, sendPacket } from "./fd_passing.ts";
import { demoLibc } from "./libc.ts";
import { type CStringArray, encodeEnvironment, openPidFd, reapProcess, startProcess } from "./spawn.ts";
import {
  decodeMessage,
  encodeMessage,
  ENVIRONMENT_SLOTS,
  MAX_PACKET_BYTES,
  type SpawnerReply,
  type SpawnerRequest,
  type SpawnMessage,
} from "./spawner_protocol.ts";

/** The socket to the DemoServer, as the DemoServer started us. */
const SOCKET = 3;
/** The epoll key of the socket; a command's is its pid. */
const SOCKET_KEY = 0;
const BATCH = 64;
const SIGKILL = 9;

/** The libssh binding (with the C library); a spawner that cannot load it says why in one line and exits. */
function load(): ReturnType<typeof native> {
  try {
    return native();
  } catch (error) {
    console.error(`DemoServer spawner: ${(error as Error).message}`);
    process.exit(1);
  }
}

const backend = load();
const libc = demoLibc(backend);
const layout = epollEventLayout(backend.arch);
const epoll = backend.libc.epoll_create1(EPOLL_CLOEXEC);
const request = new Uint8Array(layout.bytes);
const requestView = new DataView(request.buffer);
const ready = new Uint8Array(layout.bytes * BATCH);
const readyView = new DataView(ready.buffer);
const packet = new Uint8Array(MAX_PACKET_BYTES);

/** Encoded environments by slot. */
const environments = new Map<number, CStringArray>();
/** Commands that run: pid → the DemoServer's id and our pidfd. */
const running = new Map<number, { id: number; pidFd: number }>();

function control(op: number, fd: number, key: number): void {
  requestView.setUint32(0, POLLIN, true);
  requestView.setUint32(layout.data, key, true);
  requestView.setUint32(layout.data + 4, 0, true);
  if (backend.libc.epoll_ctl(epoll, op, fd, request) !== 0) throw new ErrnoError(backend, "epoll_ctl");
}

/** Kills what still runs (each command's process group) and exits: nobody reads their output any more. */
function exit(): never {
  for (const pid of running.keys()) libc.kill(-pid, SIGKILL);
  process.exit(0);
}

function reply(message: SpawnerReply): void {
  try {
    sendPacket(backend, SOCKET, encodeMessage(message));
  } catch {
    exit(); // the DemoServer is gone
  }
}

function spawn(message: SpawnMessage, fds: number[]): void {
  try {
    const env = typeof message.env === "number"
      ? environments.get(message.env)
      : encodeEnvironment(backend, message.env);
    if (!env) throw new Error(`no environment in slot ${message.env}`);
    if (message.terminal === undefined && fds.length !== 3) {
      throw new Error(`${fds.length} descriptors, not 3`);
    }
    const stdio = message.terminal === undefined ? { fds } : { terminal: message.terminal };
    const pid = startProcess(backend, message.argv, env, message.cwd, stdio);
    // Told at once: the DemoServer can signal it, and should we die now, it knows what to kill.
    reply({ type: "started", id: message.id, pid });
    let pidFd;
    try {
      pidFd = openPidFd(backend, pid); // kills and reaps it when it fails
    } catch {
      reply({ type: "exited", id: message.id, code: null, signal: SIGKILL });
      return;
    }
    control(EPOLL_CTL_ADD, pidFd, pid);
    running.set(pid, { id: message.id, pidFd });
  } catch (error) {
    const errno = error instanceof ErrnoError ? error.errno : 0;
    reply({ type: "failed", id: message.id, errno, message: (error as Error).message });
  } finally {
    for (const fd of fds) closeFd(backend, fd);
  }
}

function handle(message: SpawnerRequest, fds: number[]): void {
  if (message.type === "spawn") return spawn(message, fds);
  for (const fd of fds) closeFd(backend, fd);
  if (message.slot >= 0 && message.slot < ENVIRONMENT_SLOTS) {
    environments.set(message.slot, encodeEnvironment(backend, message.entries));
  }
}

function readRequests(): void {
  for (;;) {
    let received;
    try {
      received = receivePacket(backend, SOCKET, packet);
    } catch {
      exit(); // ECONNRESET: the DemoServer closed its end with our replies unread
    }
    if (received === WOULD_BLOCK) return;
    if (received === null) exit();
    handle(decodeMessage<SpawnerRequest>(received.bytes), received.fds);
  }
}

function reap(pid: number): void {
  const command = running.get(pid);
  const status = command && reapProcess(backend, pid);
  if (!command || !status) return;
  running.delete(pid);
  control(EPOLL_CTL_DEL, command.pidFd, pid);
  closeFd(backend, command.pidFd);
  reply({ type: "exited", id: command.id, code: status.code, signal: status.signal });
}

if (epoll < 0) throw new ErrnoError(backend, "epoll_create1");
// Ours only: a command holding it would keep the DemoServer from seeing our end.
if (!setCloseOnExec(backend, SOCKET)) throw new ErrnoError(backend, "fcntl(FD_CLOEXEC)");
control(EPOLL_CTL_ADD, SOCKET, SOCKET_KEY);
reply({ type: "ready", pid: process.pid });
for (;;) {
  const count = libc.epoll_wait_now(epoll, ready, BATCH, -1);
  if (count < 0) {
    if (lastErrno(backend) === EINTR) continue;
    throw new ErrnoError(backend, "epoll_wait");
  }
  for (let i = 0; i < count; i++) {
    const key = readyView.getUint32(i * layout.bytes + layout.data, true);
    if (key === SOCKET_KEY) readRequests();
    else reap(key);
  }
}
