/**
 * Remote commands: `spawn` (streams and an exit promise) and `run` (the whole
 * output and the exit status), over a session channel.
 *
 * @module
 */

import { SshError } from "../errors.ts";
import type { ClientChannel, ExitResult, PtyOptions } from "./client_channel.ts";

/** How to start a remote command. */
export interface ExecOptions {
  /** Environment variables, sent before the command (OpenSSH's sshd takes only those its `AcceptEnv` lists). */
  env?: Record<string, string>;
  /** A pseudo-terminal: `true` for 80×24 `xterm-256color`, or its size and `TERM`. */
  pty?: boolean | PtyOptions;
  /** The command's stdin; EOF follows it. Without it, `run` sends EOF at once and `spawn` leaves `stdin` open. */
  stdin?: string | Uint8Array | ReadableStream<Uint8Array>;
  /** Stops the command: `TERM` is sent and the channel closed; the call rejects with `SshError` `"aborted"`. */
  signal?: AbortSignal;
}

/** Options of `run`. */
export interface RunOptions extends ExecOptions {
  /** Reject with `CommandFailedError` when the exit status is not 0. Default false. */
  check?: boolean;
  /** Milliseconds the command may run; then `TERM`, the channel closed, and `SshError` `"timeout"`. */
  timeout?: number;
  /** Bytes of stdout and of stderr kept, each; more is a `RangeError` (the command is stopped). Default 64 MiB. */
  maxBuffer?: number;
}

/** What a finished command gave. */
export interface CompletedProcess extends ExitResult {
  /** Everything the command wrote to stdout. */
  stdout: Uint8Array;
  /** Everything the command wrote to stderr. */
  stderr: Uint8Array;
  /** `stdout` decoded as UTF-8. */
  stdoutText: string;
  /** `stderr` decoded as UTF-8. */
  stderrText: string;
  /** Whether the exit status is 0. */
  ok: boolean;
}

/**
 * `run(…, { check: true })` and the command did not exit with 0: `result`
 * holds its output and status.
 *
 * @example
 * ```ts
 * import { type ClientSession, CommandFailedError } from "@libssh/libssh";
 *
 * declare const ssh: ClientSession;
 * try {
 *   await ssh.run("false", { check: true });
 * } catch (e) {
 *   if (e instanceof CommandFailedError) console.log(e.result.exitStatus); // 1
 * }
 * ```
 */
export class CommandFailedError extends SshError {
  /** The command's output and how it ended. */
  readonly result: CompletedProcess;

  /** Creates the error for `command` and its `result`. */
  constructor(command: string, result: CompletedProcess) {
    const how = result.exitSignal !== null
      ? `was killed by SIG${result.exitSignal}`
      : `exited with status ${result.exitStatus ?? "unknown"}`;
    const detail = result.stderrText.trim().split("\n").slice(-3).join("\n");
    super("command-failed", `${JSON.stringify(command)} ${how}${detail ? `: ${detail}` : ""}`);
    this.name = "CommandFailedError";
    this.result = result;
  }
}

/**
 * A running remote command (`spawn`, `shell`): its stdin, stdout and stderr
 * as web streams, and how it ended.
 *
 * @example Feed a command and read its answer
 * ```ts
 * import type { ClientSession } from "@libssh/libssh";
 *
 * declare const ssh: ClientSession;
 * await using bc = await ssh.spawn("bc");
 * const input = bc.stdin.getWriter();
 * await input.write(new TextEncoder().encode("2^64\n"));
 * await input.close(); // EOF: bc exits
 * console.log(await new Response(bc.stdout).text(), await bc.exited);
 * ```
 */
export class SshProcess {
  /** The session channel it runs on. */
  readonly channel: ClientChannel;
  /** The command's stdin; closing it sends EOF. */
  readonly stdin: WritableStream<Uint8Array>;

  /** Wraps a session channel on which a command or shell was started (`ClientSession.spawn` / `shell` do). */
  constructor(channel: ClientChannel) {
    this.channel = channel;
    this.stdin = channel.writable;
  }

  /** The command's stdout. */
  get stdout(): ReadableStream<Uint8Array> {
    return this.channel.readable;
  }

  /** The command's stderr (a pty merges it into stdout). */
  get stderr(): ReadableStream<Uint8Array> {
    return this.channel.stderr;
  }

  /** Resolves with the exit status or signal once the command ended and the server closed the channel. */
  get exited(): Promise<ExitResult> {
    return this.channel.exited;
  }

  /** Tells the server the terminal's new size (with a pty). */
  resize(cols: number, rows: number): Promise<void> {
    return this.channel.resize(cols, rows);
  }

  /** Sends a signal to the command (default `TERM`). */
  kill(signal?: string): Promise<void> {
    return this.channel.sendSignal(signal ?? "TERM");
  }

  /** Closes the channel (the server ends the command's session). */
  close(): Promise<void> {
    return this.channel.close();
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Checks the options shared by `spawn`, `shell` and `run`. */
export function checkExecOptions(options: ExecOptions): void {
  if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (typeof value !== "string") throw new TypeError(`env.${name} must be a string`);
  }
  const stdin = options.stdin;
  if (
    stdin !== undefined && typeof stdin !== "string" && !(stdin instanceof Uint8Array) &&
    !(stdin instanceof ReadableStream)
  ) {
    throw new TypeError("stdin must be a string, a Uint8Array or a ReadableStream");
  }
}

/**
 * Sends auth-agent-req (with `forwardAgent`), env, pty and the exec (or
 * shell) request on a freshly opened session channel, then feeds `stdin`.
 * Closes the channel when a request fails.
 */
export async function startCommand(
  channel: ClientChannel,
  command: string | undefined,
  options: ExecOptions,
  pty: boolean | PtyOptions | undefined,
  endStdin: boolean,
  forwardAgent: boolean,
): Promise<void> {
  try {
    // Queued in this order on the channel: they reach the server in it.
    const requests = forwardAgent ? [channel.requestAgentForwarding()] : [];
    for (const [name, value] of Object.entries(options.env ?? {})) {
      requests.push(channel.requestEnv(name, value));
    }
    if (pty) requests.push(channel.requestPty(pty === true ? {} : pty));
    requests.push(command === undefined ? channel.requestShell() : channel.requestExec(command));
    await Promise.all(requests);
  } catch (error) {
    await channel.close();
    throw error;
  }
  const stdin = options.stdin;
  const feed = async (): Promise<void> => {
    if (stdin instanceof ReadableStream) return await stdin.pipeTo(channel.writable);
    if (stdin !== undefined) await channel.write(stdin);
    if (stdin !== undefined || endStdin) await channel.sendEof();
  };
  // A failed feed (the command exited and the channel closed first) shows in the command's exit.
  feed().catch(() => {});
}

/**
 * Stops `process` when `signal` aborts or `timeout` ms pass: `TERM`, then the
 * channel closed. Returns a promise that rejects with the reason at that
 * moment, and a function that disarms both.
 */
export function stopper(
  process: SshProcess,
  options: { signal?: AbortSignal; timeout?: number },
): { stopped: Promise<never>; disarm(): void } {
  let disarm = (): void => {};
  const stopped = new Promise<never>((_, reject) => {
    const stop = (error: SshError): void => {
      disarm();
      reject(error); // at once: the command's end, which the signal causes, must not pass for a normal one
      process.kill("TERM").catch(() => {}).finally(() => process.close());
    };
    const timeout = options.timeout;
    const timer = timeout === undefined
      ? undefined
      : setTimeout(() => stop(new SshError("timeout", `the command ran longer than ${timeout} ms`)), timeout);
    const signal = options.signal;
    const onAbort = (): void =>
      stop(new SshError("aborted", "the command was aborted", { cause: signal?.reason }));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    disarm = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
  });
  stopped.catch(() => {});
  return { stopped, disarm };
}

/** Reads a stream to its end, at most `limit` bytes (more: RangeError, the stream cancelled). */
async function collect(stream: ReadableStream<Uint8Array>, limit: number, name: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > limit) {
      await reader.cancel();
      throw new RangeError(`${name} exceeded maxBuffer (${limit} bytes)`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

const decoder = new TextDecoder();
const DEFAULT_MAX_BUFFER = 64 * 1024 * 1024;

/** Collects a spawned command's output and status (see `ClientSession.run`). */
export async function completion(
  process: SshProcess,
  command: string,
  options: RunOptions,
): Promise<CompletedProcess> {
  const limit = options.maxBuffer ?? DEFAULT_MAX_BUFFER;
  if (!Number.isInteger(limit) || limit < 0) throw new RangeError("maxBuffer must be a byte count");
  if (options.timeout !== undefined && (!Number.isFinite(options.timeout) || options.timeout < 0)) {
    throw new RangeError("timeout must be a number of milliseconds");
  }
  const { stopped, disarm } = stopper(process, options);
  try {
    const output = Promise.all([
      collect(process.stdout, limit, "stdout"),
      collect(process.stderr, limit, "stderr"),
      process.exited,
    ]);
    output.catch(() => process.close());
    const [stdout, stderr, exit] = await Promise.race([output, stopped]);
    const result: CompletedProcess = {
      ...exit,
      stdout,
      stderr,
      stdoutText: decoder.decode(stdout),
      stderrText: decoder.decode(stderr),
      ok: exit.exitStatus === 0,
    };
    if (options.check && !result.ok) throw new CommandFailedError(command, result);
    return result;
  } finally {
    disarm();
  }
}
