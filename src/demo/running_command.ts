/**
 * What every way of running a client's command shares: its options, the
 * handle on it while it runs, and how its end is told to the client. The
 * portable (`command.ts`), native (`native_command.ts`) and terminal
 * (`pty_command.ts`) runners all import it; none imports another for it.
 *
 * @module
 */

import type { SshChannel } from "../channel.ts";

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

/** How to run a command, whichever runner starts it. */
export interface CommandOptions {
  env: Readonly<Record<string, string>>;
  cwd?: string;
  /** Kill the command after this many milliseconds. */
  timeout?: number;
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
