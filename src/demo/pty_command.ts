/**
 * Runs a client's shell or command on a real pseudo-terminal (after a pty
 * request): `openpty()` here; the program leads a new session and opens the
 * terminal by path, which makes it its controlling terminal (job control,
 * ^C, SIGWINCH). Started by the DemoServer's `ProcessLauncher` (Linux), or
 * through util-linux's `setsid` and a shell that opens the terminal.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { constants } from "node:os";
import { native } from "../_native.ts";
import { closeFd } from "../../ffi/fd.ts";
import { openPty, resizePty, type WindowSize } from "../../ffi/demo/pty.ts";
import { signalProcess } from "../../ffi/demo/spawn.ts";
import { type ProcessLauncher, ProcessLost } from "./process_launcher.ts";
import type { SshChannel } from "../channel.ts";
import { killProcessGroup, signalChild } from "./command.ts";
import {
  type CommandExit,
  type CommandOptions,
  reportExit,
  type RunningCommand,
  tellClient,
  UNKNOWN_EXIT_STATUS,
} from "./running_command.ts";
import { ChannelInput, descriptorSink } from "./channel_input.ts";
import { FdStream } from "../fd_stream.ts";

const SIGNAL_NUMBERS = constants.signals as Record<string, number>;

/** How long output may still drain after the program exited (a background job may hold the terminal). */
const DRAIN_AFTER_EXIT_MS = 1000;

/**
 * Opens the terminal as stdin/stdout/stderr; as the leader of a new session
 * (setsid) without a terminal, that makes it the controlling terminal
 * (what `startProcess` does for a launcher's `{ terminal }`).
 */
const ATTACH_TERMINAL = 'exec 0<>"$0" 1>&0 2>&0 && exec "$@"';

/** Options of `runPtyCommand`. */
export interface PtyCommandOptions extends CommandOptions {
  /** `TERM` from the pty request. */
  term: string;
  size: WindowSize;
}

/** A command on a pty; `resize` follows the client's window changes. */
export interface RunningPtyCommand extends RunningCommand {
  resize(size: WindowSize): void;
}

/** The program on the terminal, however it was started. */
interface TerminalProgram {
  kill(signal?: string): void;
  terminate(): void;
  /** How it ended (a failure to start: said on the terminal, status 127). */
  readonly exited: Promise<CommandExit>;
}

/**
 * Starts `argv` through `launcher` with the terminal as its controlling
 * terminal (`posix_spawn` with setsid, then the terminal opened by path).
 */
function launchOnTerminal(
  channel: SshChannel,
  argv: string[],
  env: Record<string, string>,
  options: PtyCommandOptions,
  path: string,
  launcher: ProcessLauncher,
): TerminalProgram {
  const backend = native();
  const child = launcher.launch({ argv, env, cwd: options.cwd, stdio: { terminal: path } });
  const signal = (target: (pid: number) => number, number: number | undefined): void => {
    if (number !== undefined) {
      void child.pid.then((pid) => signalProcess(backend, target(pid), number), () => {});
    }
  };
  const exited = child.exit.catch(async (error: Error): Promise<CommandExit> => {
    if (error instanceof ProcessLost) {
      await tellClient(channel, `DemoServer: ${error.message}\r\n`);
      return { code: UNKNOWN_EXIT_STATUS, signal: null };
    }
    await tellClient(channel, `${argv[0]}: ${error.message}\r\n`);
    return { code: 127, signal: null };
  });
  return {
    kill: (name = "TERM") =>
      signal((pid) => pid, SIGNAL_NUMBERS[name.startsWith("SIG") ? name : `SIG${name}`]),
    terminate: () => signal((pid) => -pid, SIGNAL_NUMBERS.SIGKILL),
    exited,
  };
}

/** Starts `argv` with `node:child_process` and util-linux's `setsid` (systems without a launcher). */
function spawnOnTerminal(
  channel: SshChannel,
  argv: string[],
  env: Record<string, string>,
  options: PtyCommandOptions,
  path: string,
): TerminalProgram {
  const child = spawn("setsid", ["sh", "-c", ATTACH_TERMINAL, path, ...argv], {
    env,
    cwd: options.cwd,
    stdio: "ignore",
  });
  const exited = new Promise<CommandExit>((resolve) => {
    child.on("error", (error) => {
      void channel.write(`setsid: ${error.message}\r\n`, { stderr: true }).catch(() => {});
      resolve({ code: 127, signal: null });
    });
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });
  return {
    kill: (signal) => signalChild(child, signal),
    terminate: () => killProcessGroup(child),
    exited,
  };
}

/** Starts `argv` on a new pty connected to `channel`. */
export function runPtyCommand(
  channel: SshChannel,
  argv: string[],
  options: PtyCommandOptions,
): RunningPtyCommand {
  const backend = native();
  const pty = openPty(backend, options.size);
  const master = new FdStream(pty.master);
  const env = { ...options.env, TERM: options.term || "xterm" };
  const program = options.launcher
    ? launchOnTerminal(channel, argv, env, options, pty.path, options.launcher)
    : spawnOnTerminal(channel, argv, env, options, pty.path);
  // The master is also the output's: the input never closes it (a terminal has no end of input).
  const input = new ChannelInput(channel, descriptorSink(master, false));
  const output = (async () => {
    try {
      for (let chunk = await master.read(); chunk !== null; chunk = await master.read()) {
        await channel.write(chunk);
      }
    } catch {
      program.kill("HUP"); // the client is gone
    }
  })();
  const timer = options.timeout ? setTimeout(() => program.terminate(), options.timeout) : undefined;
  const finished = (async () => {
    const exit = await program.exited;
    clearTimeout(timer);
    // Our copy of the terminal side kept the pty alive until the program had it;
    // once it and the program are gone, reading the master ends with EIO.
    closeFd(backend, pty.slave);
    const drained = setTimeout(() => master.close(), DRAIN_AFTER_EXIT_MS);
    await output;
    clearTimeout(drained);
    master.close();
    input.close();
    await reportExit(channel, exit);
    return exit;
  })();
  return {
    endInput: () => {}, // a terminal has no end of input: the client types ^D
    kill: (signal) => program.kill(signal),
    terminate: () => program.terminate(),
    resize: (size) => {
      if (!master.closed) resizePty(backend, pty.master, size);
    },
    finished,
  };
}
