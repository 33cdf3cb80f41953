/**
 * What every way of running a client's command shares: its options, the
 * handle on it while it runs, and how its end is told to the client. The
 * portable (`command.ts`), native (`native_command.ts`) and terminal
 * (`pty_command.ts`) runners all import it; none imports another for it.
 *
 * @module
 */

import type { SshChannel } from "../channel.ts";
import type { ProcessLauncher } from "./process_launcher.ts";

/** How a command ended. */
export interface CommandExit {
  code: number | null;
  signal: string | null;
}

/** A running command. */
export interface RunningCommand {
  /** The client sent EOF. */
  endInput(): void;
  /** Sends a signal (`"TERM"` or `"SIGTERM"`) to the command, as a client's signal request does. */
  kill(signal?: string): void;
  /** Kills the command and everything it started (its process group): the channel or server is gone. */
  terminate(): void;
  /** Resolves once the command ended and the channel was told. */
  readonly finished: Promise<CommandExit>;
}

/** The status reported when a command's end is unknown (its spawner process died), as ssh reports its own failures. */
export const UNKNOWN_EXIT_STATUS = 255;

/** How to run a command, whichever runner starts it. */
export interface CommandOptions {
  env: Readonly<Record<string, string>>;
  cwd?: string;
  /** Kill the command after this many milliseconds. */
  timeout?: number;
  /**
   * Who starts the process with `posix_spawn` (this process, or the
   * DemoServer's spawner process); without one, the runtime's own
   * `node:child_process` does (where there is no pidfd: not Linux).
   */
  launcher?: ProcessLauncher;
}

/** Writes `text` on the channel's stderr, unless the client closed it (`write` then throws at once). */
export async function tellClient(channel: SshChannel, text: string): Promise<void> {
  try {
    await channel.write(text, { stderr: true });
  } catch { /* the client is gone */ }
}

/** Tells the client how the command ended (status or signal, before EOF: some clients drop it after), then closes. */
export async function reportExit(channel: SshChannel, exit: CommandExit): Promise<void> {
  if (channel.isOpen) {
    try {
      if (exit.signal) await channel.sendExitSignal(exit.signal);
      else await channel.sendExitStatus(exit.code ?? 0);
      await channel.sendEof();
    } catch { /* the client closed the channel meanwhile */ }
  }
  await channel.close();
}
