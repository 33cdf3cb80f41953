/**
 * Starting a command's process and learning how it ended, whoever starts it:
 * this process itself (`DirectLauncher`: `posix_spawn` here, exit through a
 * pidfd in the reactor) or the DemoServer's spawner process (`Spawner`,
 * `spawner.ts`). The command runners (`native_command.ts`,
 * `pty_command.ts`) make the pipes or pty and hand the child's ends over.
 *
 * @module
 */

import { constants } from "node:os";
import { native } from "../_native.ts";
import { closeFd } from "../../ffi/fd.ts";
import { POLLIN } from "../../ffi/platform.ts";
import {
  type ChildStdio,
  encodeEnvironment,
  openPidFd,
  type ProcessExit,
  reapProcess,
  startProcess,
} from "../../ffi/demo/spawn.ts";
import { reactor } from "../reactor.ts";
import type { CommandExit } from "./running_command.ts";

/** What to start. */
export interface LaunchRequest {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /**
   * The child's descriptors (`fds`: its stdin, stdout and stderr) or its
   * terminal; the launcher owns these descriptors from now on and closes them.
   */
  readonly stdio: ChildStdio;
}

/** A command being started, then running. */
export interface LaunchedProcess {
  /**
   * Its pid once it started; rejects with the reason when it could not, or
   * with `ProcessLost` when that is unknown (then `exit` rejects too).
   */
  readonly pid: Promise<number>;
  /** How it ended; rejects as `pid` does, or with `ProcessLost` when its end cannot be known. */
  readonly exit: Promise<CommandExit>;
}

/** The launcher lost track of a process (the spawner died): whether it runs, and how it ended, is unknown. */
export class ProcessLost extends Error {
  override name = "ProcessLost";
}

/** Starts commands. */
export interface ProcessLauncher {
  launch(request: LaunchRequest): LaunchedProcess;
}

const SIGNAL_NAMES = new Map(
  Object.entries(constants.signals as Record<string, number>).map(([name, number]) => [number, name]),
);

/** An exit as the SSH client is told it: a signal by name (`"SIGTERM"`). */
export function commandExit(exit: ProcessExit): CommandExit {
  return {
    code: exit.code,
    signal: exit.signal === null ? null : SIGNAL_NAMES.get(exit.signal) ?? `SIG${exit.signal}`,
  };
}

/** A launch that failed before the process existed. */
export function failedLaunch(error: unknown): LaunchedProcess {
  const failed = Promise.reject(error);
  failed.catch(() => {}); // the runner reads the reason from `pid`
  return { pid: failed, exit: failed };
}

/** Closes the child's descriptors of `stdio` (ours to close once it started, or failed to). */
export function closeChildDescriptors(stdio: ChildStdio): void {
  if (!("fds" in stdio)) return;
  for (const fd of stdio.fds) if (fd !== null) closeFd(native(), fd);
}

/**
 * Starts commands from this process: `posix_spawn`, then a pidfd in the
 * reactor until the exit, which it reaps. Each spawn copies this process's
 * whole descriptor table (see `spawner.ts` for why that matters).
 */
export class DirectLauncher implements ProcessLauncher {
  launch(request: LaunchRequest): LaunchedProcess {
    const backend = native();
    let pid: number;
    let pidFd: number;
    try {
      pid = startProcess(
        backend,
        request.argv,
        encodeEnvironment(backend, request.env),
        request.cwd,
        request.stdio,
      );
      pidFd = openPidFd(backend, pid);
    } catch (error) {
      return failedLaunch(error);
    } finally {
      closeChildDescriptors(request.stdio);
    }
    const exit = new Promise<CommandExit>((resolve) => {
      const watch = reactor.watch(pidFd, POLLIN, () => {
        const status = reapProcess(backend, pid);
        if (!status) return;
        watch.close();
        closeFd(backend, pidFd);
        resolve(commandExit(status));
      });
    });
    return { pid: Promise.resolve(pid), exit };
  }
}
