/**
 * Runs a client's command without the runtime's process API: plain pipes,
 * polled by the same reactor as the SSH sockets, whose other ends a
 * `ProcessLauncher` gives to the process it starts with `posix_spawnp`
 * (see `ffi/demo/spawn.ts` for why), in this process or in the spawner
 * process (`spawner.ts`). Same behaviour as
 * `runCommand`'s portable path: output streamed with back-pressure, client
 * EOF closes stdin, exit status or signal before EOF and close.
 *
 * @module
 */

import { constants } from "node:os";
import { native } from "../_native.ts";
import { readFd, WOULD_BLOCK } from "../../ffi/fd.ts";
import { openPipes, signalProcess } from "../../ffi/demo/spawn.ts";
import type { SshChannel } from "../channel.ts";
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
import { type ProcessLauncher, ProcessLost } from "./process_launcher.ts";

/** Bytes read from a command's output per read. */
const OUTPUT_CHUNK = 64 * 1024;
/** The one read buffer of every command's output (an idle command holds no buffer). */
const outputBuffer = new Uint8Array(OUTPUT_CHUNK);

const SIGNAL_NUMBERS = constants.signals as Record<string, number>;

/** A command that never started: the reason on stderr, then status 127 as a shell reports it. */
function notStarted(channel: SshChannel, argv: readonly string[], error: unknown): Promise<CommandExit> {
  return (async (): Promise<CommandExit> => {
    await tellClient(channel, `${argv[0]}: ${(error as Error).message}\n`);
    const exit = { code: 127, signal: null };
    await reportExit(channel, exit);
    return exit;
  })();
}

/** Starts `argv` through `launcher` on three new pipes and connects it to `channel`. */
export function runNativeCommand(
  channel: SshChannel,
  argv: string[],
  options: CommandOptions,
  launcher: ProcessLauncher,
): RunningCommand {
  const backend = native();
  let pipes;
  try {
    pipes = openPipes(backend);
  } catch (error) {
    return {
      endInput: () => {},
      kill: () => {},
      terminate: () => {},
      finished: notStarted(channel, argv, error),
    };
  }
  const child = launcher.launch({ argv, env: options.env, cwd: options.cwd, stdio: { fds: pipes.child } });
  let ended = false;
  const kill = (signal = "TERM"): void => {
    const number = SIGNAL_NUMBERS[signal.startsWith("SIG") ? signal : `SIG${signal}`];
    if (number === undefined) return;
    void child.pid.then((pid) => ended || signalProcess(backend, pid, number), () => {});
  };
  // The command leads its own process group (see startProcess): killing the group also ends
  // what it started in the background, which would otherwise hold the output pipes open.
  const terminate = (): void => {
    void child.pid.then((started) => signalProcess(backend, -started, SIGNAL_NUMBERS.SIGKILL), () => {});
  };
  const stdin = new ChannelInput(channel, descriptorSink(new FdStream(pipes.stdin), true));
  const outputs = [new FdStream(pipes.stdout), new FdStream(pipes.stderr)];
  const pump = async (stream: FdStream, stderr: boolean): Promise<void> => {
    const fd = stream.fd;
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
  const pumps = Promise.all([pump(outputs[0], false), pump(outputs[1], true)]);
  const timer = options.timeout ? setTimeout(terminate, options.timeout) : undefined;
  const finished = (async (): Promise<CommandExit> => {
    let result: CommandExit;
    try {
      result = await child.exit;
    } catch (error) {
      clearTimeout(timer);
      stdin.close();
      if (!(error instanceof ProcessLost)) {
        await pumps; // the launcher closed the command's ends: they end at once
        return notStarted(channel, argv, error);
      }
      // Whatever still holds the pipes is out of reach: stop reading them.
      for (const stream of outputs) stream.close();
      await pumps;
      await tellClient(channel, `DemoServer: ${error.message}\n`);
      result = { code: UNKNOWN_EXIT_STATUS, signal: null };
      await reportExit(channel, result);
      return result;
    }
    ended = true;
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
