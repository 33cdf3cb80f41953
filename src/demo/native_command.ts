/**
 * Runs a client's command without the runtime's process API: `posix_spawnp`
 * with plain pipes, polled by the same reactor as the SSH sockets, exit seen
 * through a pidfd (see `ffi/demo/spawn.ts` for why). Same behaviour as
 * `runCommand`'s portable path: output streamed with back-pressure, client
 * EOF closes stdin, exit status or signal before EOF and close.
 *
 * @module
 */

import { constants } from "node:os";
import { native } from "../_native.ts";
import { closeFd, readFd, WOULD_BLOCK } from "../../ffi/fd.ts";
import { POLLIN } from "../../ffi/platform.ts";
import { reapProcess, signalProcess, spawnProcess } from "../../ffi/demo/spawn.ts";
import type { SshChannel } from "../channel.ts";
import { reactor } from "../reactor.ts";
import { type CommandExit, type CommandOptions, reportExit, type RunningCommand } from "./running_command.ts";
import { ChannelInput, descriptorSink } from "./channel_input.ts";
import { FdStream } from "../fd_stream.ts";

/** Bytes read from a command's output per read. */
const OUTPUT_CHUNK = 64 * 1024;
/** The one read buffer of every command's output (an idle command holds no buffer). */
const outputBuffer = new Uint8Array(OUTPUT_CHUNK);

const SIGNAL_NUMBERS = constants.signals as Record<string, number>;
const SIGNAL_NAMES = new Map(Object.entries(SIGNAL_NUMBERS).map(([name, number]) => [number, name]));

/** Starts `argv` with `posix_spawnp` and connects it to `channel`. */
export function runNativeCommand(
  channel: SshChannel,
  argv: string[],
  options: CommandOptions,
): RunningCommand {
  const backend = native();
  let child;
  try {
    child = spawnProcess(backend, argv, options.env, options.cwd);
  } catch (error) {
    const finished = (async (): Promise<CommandExit> => {
      await channel.write(`${argv[0]}: ${(error as Error).message}\n`, { stderr: true }).catch(() => {});
      const exit = { code: 127, signal: null };
      await reportExit(channel, exit);
      return exit;
    })();
    return {
      endInput: () => {},
      kill: () => {},
      terminate: () => {},
      finished,
    };
  }
  const { pid } = child;
  let exit: CommandExit | undefined;
  const kill = (signal = "TERM"): void => {
    const number = SIGNAL_NUMBERS[signal.startsWith("SIG") ? signal : `SIG${signal}`];
    if (number !== undefined && exit === undefined) signalProcess(backend, pid, number);
  };
  // The command leads its own process group (see spawnProcess): killing the group also ends
  // what it started in the background, which would otherwise hold the output pipes open.
  const terminate = (): void => void signalProcess(backend, -pid, SIGNAL_NUMBERS.SIGKILL);
  const stdin = new ChannelInput(channel, descriptorSink(new FdStream(child.stdin), true));
  const pump = async (fd: number, stderr: boolean): Promise<void> => {
    const stream = new FdStream(fd);
    try {
      for (;;) {
        // Read and hand over in one synchronous step: channel.write copies what it
        // keeps before returning, so one buffer serves every command of the process.
        const n = readFd(backend, fd, outputBuffer);
        if (n === WOULD_BLOCK) {
          await stream.whenReadable();
          if (stream.closed) break;
          continue;
        }
        if (n === 0) break;
        await channel.write(outputBuffer.subarray(0, n), { stderr });
      }
    } catch {
      terminate(); // the client is gone (or the pipe failed): nobody reads the output any more
    } finally {
      stream.close();
    }
  };
  const pumps = Promise.all([pump(child.stdout, false), pump(child.stderr, true)]);
  const exited = new Promise<CommandExit>((resolve) => {
    const watch = reactor.watch(child.pidFd, POLLIN, () => {
      const status = reapProcess(backend, pid);
      if (!status) return;
      watch.close();
      closeFd(backend, child.pidFd);
      exit = {
        code: status.code,
        signal: status.signal === null ? null : SIGNAL_NAMES.get(status.signal) ?? `SIG${status.signal}`,
      };
      resolve(exit);
    });
  });
  const timer = options.timeout ? setTimeout(terminate, options.timeout) : undefined;
  const finished = (async (): Promise<CommandExit> => {
    const result = await exited;
    clearTimeout(timer);
    stdin.close();
    await pumps;
    await reportExit(channel, result);
    return result;
  })();
  return {
    endInput: () => stdin.end(),
    kill,
    terminate,
    finished,
  };
}
