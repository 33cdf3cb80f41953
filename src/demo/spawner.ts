/**
 * The DemoServer's side of its spawner process (`ffi/demo/spawner_main.ts`).
 *
 * Why a second process: `posix_spawn` clones without sharing the descriptor
 * table, so the kernel copies the whole table of the process that spawns,
 * and the child closes every close-on-exec descriptor at `exec`. A server
 * holding 10,000 sessions paid about 0.8 ms of CPU per command for that
 * alone. The spawner holds a few dozen; the DemoServer makes each command's
 * pipes (or pty), sends the child's ends to it with the request, and closes
 * its copies.
 *
 * But the round trip costs too: about 0.3 ms of CPU per command in the
 * spawner (its JS, the messages, the wake-ups), which the spawning process
 * only pays back past about 4,000 descriptors (`/bin/sh -c true` from a Deno
 * process, CPU of both processes and the command per spawn: 1.1 ms directly
 * with few descriptors, 1.2 ms with 2,000, 1.4 ms with 4,000, 1.8 ms with
 * 10,000; through the spawner 1.3–1.4 ms whatever the count). So in the
 * `"auto"` mode a command starts directly while its pipes get descriptor
 * numbers below `USE_SPAWNER_FROM` (descriptors are numbered lowest free
 * first, so the number tells how full the table is), and from the spawner
 * above; the spawner is started when the numbers, or the sessions the
 * DemoServer holds, pass `START_SPAWNER_FROM`, and commands start directly
 * until it is ready. (Starting it with every DemoServer would add a runtime
 * process to every test suite's server, which never needs it.)
 *
 * Failures: when the spawner cannot start at all (its process dies before
 * saying `ready`), this `Spawner` starts every command directly from now on
 * (`DirectLauncher`), those waiting included. When a started spawner dies,
 * the commands it ran are killed and end with an error the runner reports to
 * the client (their exit status is unknown); the next command starts a new
 * spawner.
 *
 * @module
 */

import process from "node:process";
import { native } from "../_native.ts";
import { closeFd, ErrnoError, setNonBlocking, WOULD_BLOCK } from "../../ffi/fd.ts";
import { POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT } from "../../ffi/platform.ts";
import { packetSocketPair, receivePacket, sendPacket } from "../../ffi/demo/fd_passing.ts";
import {
  encodeEnvironment,
  environmentEntries,
  openPidFd,
  reapProcess,
  signalProcess,
  startProcess,
} from "../../ffi/demo/spawn.ts";
import {
  decodeMessage,
  encodeMessage,
  ENVIRONMENT_SLOTS,
  MAX_PACKET_BYTES,
  spawnerProgram,
  type SpawnerReply,
} from "../../ffi/demo/spawner_protocol.ts";
import { reactor, type Watch } from "../reactor.ts";
import type { CommandExit } from "./running_command.ts";
import {
  closeChildDescriptors,
  commandExit,
  DirectLauncher,
  failedLaunch,
  type LaunchedProcess,
  type LaunchRequest,
  type ProcessLauncher,
  ProcessLost,
} from "./process_launcher.ts";

const SIGKILL = 9;
/** Descriptor numbers from which a command's pipes make it start from the spawner (`"auto"`). */
export const USE_SPAWNER_FROM = 4000;
/**
 * Descriptors (numbers of a command's pipes, or sessions held) from which
 * the spawner is started (`"auto"`): it is ready before it is needed.
 */
export const START_SPAWNER_FROM = 3000;
const E2BIG = 7;
/** How long a spawner may take to say it is ready before it is killed (Deno starts it in about 0.1 s). */
const READY_TIMEOUT_MS = 20_000;
/** How long `close()` lets the spawner exit by itself before it is killed. */
const EXIT_GRACE_MS = 5000;
/** Where replies land (one JS thread: one buffer for every spawner of the process). */
const replyBuffer = new Uint8Array(MAX_PACKET_BYTES);

/** What the DemoServer records about its spawner. */
export interface SpawnerEvents {
  /** A spawner process is ready (`pid`). */
  started(pid: number): void;
  /** A ready spawner died; the `failed` commands it ran were killed. */
  exited(pid: number, exit: CommandExit, failed: number): void;
  /** No spawner could be started: commands start from this process from now on. */
  unavailable(reason: string): void;
}

/** A launch in progress: the request until it is sent, then its promises' ends. */
interface Pending {
  readonly request: LaunchRequest;
  readonly resolvePid: (pid: number) => void;
  readonly rejectPid: (error: Error) => void;
  readonly resolveExit: (exit: CommandExit) => void;
  readonly rejectExit: (error: Error) => void;
  pid?: number;
}

/** A packet waiting for room in the socket, with the launch it carries (its descriptors closed once sent). */
interface Outgoing {
  readonly bytes: Uint8Array<ArrayBuffer>;
  readonly launch?: { readonly id: number; readonly pending: Pending };
}

/** The command line that runs the spawner's program with this runtime. */
function spawnerCommand(): string[] {
  const program = spawnerProgram();
  if (!("Deno" in globalThis)) return [process.execPath, program];
  // Only what the program needs: FFI, and the variable that may choose libssh.
  return [
    process.execPath,
    "run",
    "--quiet",
    "--no-config",
    "--no-prompt",
    "--allow-ffi",
    "--allow-env=LIBSSH_PATH",
    program,
  ];
}

/** This process's environment, for the spawner (which passes each command its own). */
function currentEnvironment(): string[] {
  return Object.entries(process.env).flatMap(([name, value]) =>
    value === undefined ? [] : [`${name}=${value}`]
  );
}

/** One spawner process and the conversation with it. */
class SpawnerProcess {
  readonly pid: number;
  readonly #socket: number;
  readonly #socketWatch: Watch;
  readonly #exitWatch: Watch;
  readonly #pidFd: number;
  readonly #events: SpawnerEvents;
  readonly #onGone: (process: SpawnerProcess, ready: boolean, unsent: Pending[]) => void;
  #ready = false;
  readonly #readyTimer: ReturnType<typeof setTimeout>;
  #gone = false;
  #closing = false;
  /** Commands that were running when the conversation ended. */
  #killed = 0;
  #nextId = 1;
  /** Launches that wait for `ready`. */
  readonly #unsent: Pending[] = [];
  /** Packets to send, in order, while the socket's buffer is full. */
  readonly #outgoing: Outgoing[] = [];
  /** Sent launches by id, until their exit. */
  readonly #sent = new Map<number, Pending>();
  /** Frozen environments the spawner holds, by slot, least recently used first. */
  readonly #slots = new Map<Readonly<Record<string, string>>, number>();
  readonly #exited: Promise<void>;

  constructor(
    events: SpawnerEvents,
    onGone: (process: SpawnerProcess, ready: boolean, unsent: Pending[]) => void,
  ) {
    this.#events = events;
    this.#onGone = onGone;
    const backend = native();
    let [ours, theirs] = packetSocketPair(backend);
    // Theirs becomes the spawner's descriptor 3, which a copy onto itself would leave close-on-exec.
    if (theirs === 3) [ours, theirs] = [theirs, ours];
    try {
      setNonBlocking(backend, ours);
      this.pid = startProcess(
        backend,
        spawnerCommand(),
        encodeEnvironment(backend, currentEnvironment()),
        undefined,
        {
          fds: [null, 2, 2, theirs],
        },
      );
    } catch (error) {
      closeFd(backend, ours);
      throw error;
    } finally {
      closeFd(backend, theirs);
    }
    this.#socket = ours;
    try {
      this.#pidFd = openPidFd(backend, this.pid); // kills and reaps it when it fails
    } catch (error) {
      closeFd(backend, ours);
      throw error;
    }
    // A spawner that never gets ready (a runtime stuck fetching its module) is killed: commands start directly.
    this.#readyTimer = setTimeout(() => signalProcess(backend, this.pid, SIGKILL), READY_TIMEOUT_MS);
    this.#socketWatch = reactor.watch(ours, POLLIN, (revents) => this.#onSocket(revents));
    let exited!: () => void;
    this.#exited = new Promise((resolve) => exited = resolve);
    this.#exitWatch = reactor.watch(this.#pidFd, POLLIN, () => {
      const status = reapProcess(backend, this.pid);
      if (!status) return;
      clearTimeout(this.#readyTimer);
      this.#exitWatch.close();
      closeFd(backend, this.#pidFd);
      if (!this.#gone) this.#receive(); // what it said before it died
      const failed = this.#end();
      if (this.#ready && !this.#closing) this.#events.exited(this.pid, commandExit(status), failed);
      exited();
    });
  }

  /** Whether this process can take more launches (it has not ended). */
  get usable(): boolean {
    return !this.#gone;
  }

  /** Whether it said it is ready (launches before that wait for it). */
  get ready(): boolean {
    return this.#ready && !this.#gone;
  }

  launch(request: LaunchRequest): LaunchedProcess {
    let resolvePid!: (pid: number) => void, rejectPid!: (error: Error) => void;
    let resolveExit!: (exit: CommandExit) => void, rejectExit!: (error: Error) => void;
    const pid = new Promise<number>((resolve, reject) => [resolvePid, rejectPid] = [resolve, reject]);
    const exit = new Promise<CommandExit>((resolve, reject) => [resolveExit, rejectExit] = [resolve, reject]);
    // The runner reads a failure to start from `pid`, an unknown end from `exit`.
    pid.catch(() => {});
    exit.catch(() => {});
    const pending = { request, resolvePid, rejectPid, resolveExit, rejectExit };
    if (this.#ready) this.#send(pending);
    else this.#unsent.push(pending);
    return { pid, exit };
  }

  /** Sends a launch (and first its environment, if the spawner does not hold it yet). */
  #send(pending: Pending): void {
    const { request } = pending;
    const id = this.#nextId++;
    let env: number | string[];
    let environment: Uint8Array<ArrayBuffer> | undefined;
    const frozen = Object.isFrozen(request.env);
    const known = frozen ? this.#slots.get(request.env) : undefined;
    if (known !== undefined) {
      env = known;
    } else if (frozen) {
      env = this.#slots.size < ENVIRONMENT_SLOTS ? this.#slots.size : this.#slots.entries().next().value![1];
      environment = encodeMessage({
        type: "environment",
        slot: env,
        entries: environmentEntries(request.env),
      });
    } else {
      env = environmentEntries(request.env);
    }
    const terminal = "terminal" in request.stdio ? request.stdio.terminal : undefined;
    const bytes = encodeMessage({ type: "spawn", id, argv: request.argv, env, cwd: request.cwd, terminal });
    const size = Math.max(bytes.length, environment?.length ?? 0);
    if (size > MAX_PACKET_BYTES) {
      this.#fail(pending, new ErrnoError(native(), `a request of ${size} bytes for the spawner`, E2BIG));
      return;
    }
    if (frozen) {
      // Least recently used first: a slot in use moves to the end, a new one replaces the first.
      if (known === undefined && this.#slots.size === ENVIRONMENT_SLOTS) {
        this.#slots.delete(this.#slots.keys().next().value!);
      }
      this.#slots.delete(request.env);
      this.#slots.set(request.env, env as number);
    }
    if (environment) this.#outgoing.push({ bytes: environment });
    this.#outgoing.push({ bytes, launch: { id, pending } });
    this.#flush();
  }

  #flush(): void {
    const backend = native();
    while (this.#outgoing.length > 0 && !this.#gone) {
      const { bytes, launch } = this.#outgoing[0];
      const stdio = launch?.pending.request.stdio;
      const fds = stdio && "fds" in stdio ? stdio.fds.filter((fd) => fd !== null) : [];
      let sent;
      try {
        sent = sendPacket(backend, this.#socket, bytes, fds);
      } catch {
        // Sizes were checked: the spawner is gone (EPIPE, ECONNRESET). What was not sent is relaunched.
        this.#end();
        return;
      }
      if (sent === WOULD_BLOCK) break;
      this.#outgoing.shift();
      if (launch) {
        this.#sent.set(launch.id, launch.pending);
        closeChildDescriptors(launch.pending.request.stdio); // the packet holds its own copies now
      }
    }
    if (!this.#gone) this.#socketWatch.setEvents(POLLIN | (this.#outgoing.length > 0 ? POLLOUT : 0));
  }

  /** A launch that will not run: its descriptors closed, its promises rejected. */
  #fail(pending: Pending, error: Error): void {
    closeChildDescriptors(pending.request.stdio);
    pending.rejectPid(error);
    pending.rejectExit(error);
  }

  #onSocket(revents: number): void {
    // Each step may end the conversation and close the socket (whose number a new spawner may get).
    if (revents & POLLOUT) this.#flush();
    if (revents & POLLIN && !this.#gone) this.#receive();
    if (revents & (POLLERR | POLLHUP | POLLNVAL)) this.#end();
  }

  #receive(): void {
    for (;;) {
      let received;
      try {
        received = receivePacket(native(), this.#socket, replyBuffer);
      } catch {
        received = null; // not our protocol: treat it as the spawner gone
      }
      if (received === WOULD_BLOCK) return;
      if (received === null) {
        this.#end();
        return;
      }
      for (const fd of received.fds) closeFd(native(), fd);
      this.#onReply(decodeMessage<SpawnerReply>(received.bytes));
    }
  }

  #onReply(reply: SpawnerReply): void {
    if (reply.type === "ready") {
      this.#ready = true;
      clearTimeout(this.#readyTimer);
      this.#events.started(this.pid);
      for (const pending of this.#unsent.splice(0)) this.#send(pending);
      return;
    }
    const pending = this.#sent.get(reply.id);
    if (!pending) return;
    if (reply.type === "started") {
      pending.pid = reply.pid;
      pending.resolvePid(reply.pid);
    } else if (reply.type === "failed") {
      this.#sent.delete(reply.id);
      const error = new Error(reply.message);
      pending.rejectPid(error);
      pending.rejectExit(error);
    } else {
      this.#sent.delete(reply.id);
      pending.resolveExit(commandExit(reply));
    }
  }

  /**
   * The conversation is over (the spawner died, or `close()`): what was sent
   * fails, and the started commands are killed; returns how many were
   * started. Idempotent.
   */
  #end(reason = "the DemoServer's spawner process exited"): number {
    if (this.#gone) return this.#killed;
    this.#gone = true;
    this.#socketWatch.close();
    closeFd(native(), this.#socket);
    const error = new ProcessLost(`${reason}: the command was killed, its exit status is unknown`);
    let started = 0;
    for (const pending of this.#sent.values()) {
      if (pending.pid !== undefined) {
        started++;
        signalProcess(native(), -pending.pid, SIGKILL);
      }
      pending.rejectPid(error);
      pending.rejectExit(error);
    }
    this.#sent.clear();
    this.#killed = started;
    const unsent = [...this.#unsent.splice(0)];
    for (const { launch } of this.#outgoing.splice(0)) if (launch) unsent.push(launch.pending);
    this.#onGone(this, this.#ready, unsent);
    return started;
  }

  /** Ends the conversation (the spawner kills what still runs and exits) and waits for the process. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#end("the DemoServer closed");
    const timer = setTimeout(() => signalProcess(native(), this.pid, SIGKILL), EXIT_GRACE_MS);
    await this.#exited;
    clearTimeout(timer);
  }
}

/**
 * When commands start from the spawner: `"always"` (started with the
 * server; commands wait for it to be ready), or `"auto"` (past
 * `USE_SPAWNER_FROM` descriptors, see the module doc).
 */
export type SpawnerMode = "always" | "auto";

/** The highest descriptor number of the child's stdio (-1 for a terminal). */
function highestDescriptor(request: LaunchRequest): number {
  const { stdio } = request;
  return "fds" in stdio ? Math.max(-1, ...stdio.fds.map((fd) => fd ?? -1)) : -1;
}

/**
 * Starts the DemoServer's commands from its spawner process, restarting it
 * when it died, or directly when no spawner can run (see the module doc).
 */
export class Spawner implements ProcessLauncher {
  readonly #events: SpawnerEvents;
  readonly #mode: SpawnerMode;
  readonly #direct = new DirectLauncher();
  #process: SpawnerProcess | undefined;
  #unavailable = false;
  #closed = false;

  /** In `"always"` mode, starts the spawner process now. */
  constructor(events: SpawnerEvents, mode: SpawnerMode) {
    this.#events = events;
    this.#mode = mode;
    if (mode === "always") this.#current();
  }

  #current(): SpawnerProcess | undefined {
    if (this.#unavailable) return undefined;
    if (this.#process?.usable) return this.#process;
    try {
      this.#process = new SpawnerProcess(
        this.#events,
        (process, ready, unsent) => this.#onGone(process, ready, unsent),
      );
    } catch (error) {
      this.#giveUp(`cannot start it: ${(error as Error).message}`);
    }
    return this.#process;
  }

  #giveUp(reason: string): void {
    this.#unavailable = true;
    this.#process = undefined;
    this.#events.unavailable(reason);
  }

  #onGone(process: SpawnerProcess, ready: boolean, unsent: Pending[]): void {
    if (this.#process === process) this.#process = undefined;
    if (!this.#closed && !ready) this.#giveUp("its process exited before it was ready");
    for (const pending of unsent) {
      if (this.#closed) {
        closeChildDescriptors(pending.request.stdio);
        const error = new Error("the DemoServer closed");
        pending.rejectPid(error);
        pending.rejectExit(error);
        continue;
      }
      const launched = this.launch(pending.request);
      launched.pid.then(pending.resolvePid, pending.rejectPid);
      launched.exit.then(pending.resolveExit, pending.rejectExit);
    }
  }

  /**
   * The process holds at least `descriptors` descriptors (one per session
   * held): in `"auto"` mode, starts the spawner past `START_SPAWNER_FROM`.
   */
  expect(descriptors: number): void {
    if (descriptors >= START_SPAWNER_FROM && !this.#closed && !this.#process?.usable) this.#current();
  }

  launch(request: LaunchRequest): LaunchedProcess {
    if (this.#closed) {
      closeChildDescriptors(request.stdio);
      return failedLaunch(new Error("the DemoServer closed"));
    }
    if (this.#mode === "always") {
      const current = this.#current();
      return current ? current.launch(request) : this.#direct.launch(request);
    }
    const highest = highestDescriptor(request);
    this.expect(highest);
    // A terminal has no descriptor number to tell by: it takes the spawner once there is one.
    const useSpawner = this.#process?.ready && (highest >= USE_SPAWNER_FROM || highest < 0);
    return useSpawner ? this.#process!.launch(request) : this.#direct.launch(request);
  }

  /** Stops the spawner and waits until its process exited. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const current = this.#process;
    this.#process = undefined;
    if (current) await current.close();
  }
}
