/**
 * Runs a client's command (or subsystem) as a child process wired to a
 * channel: output streamed with back-pressure, client EOF closes stdin, and
 * the exit status or signal sent before EOF and close.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import type { SshChannel } from "../channel.ts";
import { ChannelInput, writableSink } from "./channel_input.ts";
import { runNativeCommand } from "./native_command.ts";
import { type CommandExit, type CommandOptions, reportExit, type RunningCommand } from "./running_command.ts";

/** Sends a signal named as in SSH (`"TERM"`) or in Node (`"SIGTERM"`); unknown names are ignored, as sshd does. */
export function signalChild(child: ChildProcess, signal = "TERM"): void {
  const name = signal.startsWith("SIG") ? signal : `SIG${signal}`;
  try {
    child.kill(name as NodeJS.Signals);
  } catch { /* unknown signal name */ }
}

/**
 * SIGKILLs the child's process group. Commands start in their own session
 * (group id = pid), so a background job (`sleep 60 &`, or `sleep` under a
 * killed `sh -c`) does not outlive its channel and keep the output pipe open.
 */
export function killProcessGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch { /* already gone */ }
}

/**
 * Starts `argv` and connects it to `channel`: through `options.launcher`
 * with `posix_spawn` and pipes in the reactor where the system allows (Linux,
 * see `native_command.ts`: about a third of the CPU per command), else with
 * `node:child_process`.
 */
export function runCommand(channel: SshChannel, argv: string[], options: CommandOptions): RunningCommand {
  if (options.launcher) return runNativeCommand(channel, argv, options, options.launcher);
  const child = spawn(argv[0], argv.slice(1), {
    env: options.env,
    cwd: options.cwd,
    stdio: ["pipe", "pipe", "pipe"],
    detached: true, // a session (and process group) of its own, see killProcessGroup
  });
  child.stdin?.on("error", () => {}); // the command may exit before reading its input
  // Leaving a `for await` over a stream early destroys it with an AbortError,
  // emitted as "error" (unheard, it kills the server) and, on Deno, at times
  // also as an unhandled rejection: the pumps below never leave early.
  child.stdout?.on("error", () => {});
  child.stderr?.on("error", () => {});
  const spawned = new Promise<void>((resolve) => {
    child.on("spawn", resolve);
    child.on("error", () => resolve());
  });
  const pump = async (stream: AsyncIterable<Uint8Array>, stderr: boolean): Promise<void> => {
    let clientGone = false;
    try {
      for await (const chunk of stream) {
        if (clientGone) continue; // drain until the killed command's pipe ends
        try {
          await channel.write(chunk, { stderr });
        } catch {
          clientGone = true;
          killProcessGroup(child); // the client is gone: nobody reads the output any more
        }
      }
    } catch {
      killProcessGroup(child); // the pipe failed
    }
  };
  // Without pipes (spawn failed: no descriptors left, …) there is nothing to pump; "error" reports it.
  const pumps = Promise.all([child.stdout, child.stderr].map((stream, i) => stream && pump(stream, i === 1)));
  const stdin = child.stdin ? new ChannelInput(channel, writableSink(child.stdin)) : undefined;
  const timer = options.timeout ? setTimeout(() => killProcessGroup(child), options.timeout) : undefined;
  const exited = new Promise<CommandExit>((resolve) => {
    child.on("error", (error) => {
      void channel.write(`${argv[0]}: ${error.message}\n`, { stderr: true }).catch(() => {});
      resolve({ code: 127, signal: null });
    });
    child.on("close", (code, signal) => resolve({ code, signal }));
  });
  const finished = (async () => {
    const exit = await exited;
    clearTimeout(timer);
    await pumps;
    await reportExit(channel, exit);
    return exit;
  })();
  return {
    endInput: () => void spawned.then(() => stdin?.end()),
    kill: (signal) => signalChild(child, signal),
    terminate: () => killProcessGroup(child),
    finished,
  };
}
