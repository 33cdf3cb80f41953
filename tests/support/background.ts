/**
 * A client process that keeps running while a test talks to it (an `ssh -L`
 * or `ssh -R` holding its forwarding open), stopped by its PID.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";

/** A running process whose output is collected. */
export interface BackgroundProcess {
  readonly child: ChildProcess;
  /** Everything printed so far, stdout and stderr. */
  readonly output: () => string;
  /** Resolves with the first match of `pattern` in the output (rejects after `timeoutMs`). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Kills the process (by its PID) and waits for it to end. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts `command args…` in the background. */
export function startBackground(command: string, args: string[]): BackgroundProcess {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const listeners = new Set<() => void>();
  const collect = (data: Uint8Array): void => {
    output += new TextDecoder().decode(data);
    for (const listener of listeners) listener();
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const ended = new Promise<void>((resolve) => child.on("close", () => resolve()));
  return {
    child,
    output: () => output,
    waitFor: (pattern, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const match = output.match(pattern);
          if (!match) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(match);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${pattern}; output so far:\n${output}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      }),
    [Symbol.asyncDispose]: async () => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGTERM");
      await ended;
    },
  };
}
