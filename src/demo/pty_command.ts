/**
 * Runs a client's shell or command on a real pseudo-terminal (after a pty
 * request): `openpty()` here, and util-linux's `setsid` so that the program
 * gets the terminal as its controlling terminal (job control, ^C, SIGWINCH).
 *
 * @module
 */

import { spawn } from "node:child_process";
import { native } from "../_native.ts";
import { closeFd } from "../../ffi/fd.ts";
import { openPty, resizePty, type WindowSize } from "../../ffi/demo/pty.ts";
import type { SshChannel } from "../channel.ts";
import { killProcessGroup, signalChild } from "./command.ts";
import { type CommandExit, type CommandOptions, reportExit, type RunningCommand } from "./running_command.ts";
import { ChannelInput, descriptorSink } from "./channel_input.ts";
import { FdStream } from "../fd_stream.ts";

/** How long output may still drain after the program exited (a background job may hold the terminal). */
const DRAIN_AFTER_EXIT_MS = 1000;

/**
 * Opens the terminal as stdin/stdout/stderr; as the leader of a new session
 * (setsid) without a terminal, that makes it the controlling terminal.
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

/** Starts `argv` on a new pty connected to `channel`. */
export function runPtyCommand(
  channel: SshChannel,
  argv: string[],
  options: PtyCommandOptions,
): RunningPtyCommand {
  const backend = native();
  const pty = openPty(backend, options.size);
  const master = new FdStream(pty.master);
  const child = spawn("setsid", ["sh", "-c", ATTACH_TERMINAL, pty.path, ...argv], {
    env: { ...options.env, TERM: options.term || "xterm" },
    cwd: options.cwd,
    stdio: "ignore",
  });
  // The master is also the output's: the input never closes it (a terminal has no end of input).
  const input = new ChannelInput(channel, descriptorSink(master, false));
  const output = (async () => {
    try {
      for (let chunk = await master.read(); chunk !== null; chunk = await master.read()) {
        await channel.write(chunk);
      }
    } catch {
      child.kill("SIGHUP"); // the client is gone
    }
  })();
  const timer = options.timeout ? setTimeout(() => killProcessGroup(child), options.timeout) : undefined;
  const exited = new Promise<CommandExit>((resolve) => {
    child.on("error", (error) => {
      void channel.write(`setsid: ${error.message}\r\n`, { stderr: true }).catch(() => {});
      resolve({ code: 127, signal: null });
    });
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });
  const finished = (async () => {
    const exit = await exited;
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
    kill: (signal) => signalChild(child, signal),
    terminate: () => killProcessGroup(child),
    resize: (size) => {
      if (!master.closed) resizePty(backend, pty.master, size);
    },
    finished,
  };
}
