/**
 * Turns for libssh calls that may compute for a while (a key exchange step:
 * Diffie-Hellman, a host key signature check, a login signature), so that
 * many sessions connecting at once do not hold the event loop for all of
 * them in one go.
 *
 * When the reactor wakes many sessions together, their retries would all
 * run as microtasks of one task: thirty handshakes are some 60 ms of CPU
 * without a timer in between. Here queued calls run in an immediate callback
 * until a few milliseconds are spent, and the rest waits for the next turn of
 * the event loop (an immediate queued from an immediate runs only then).
 *
 * @module
 */

import { setImmediate } from "node:timers";

/** Milliseconds of calls per turn of the event loop. */
const SLICE_MS = 4;

interface Queued {
  run(): number;
  resolve(result: number): void;
  reject(error: unknown): void;
}

const queue: Queued[] = [];
let scheduled = false;

function runSlice(): void {
  scheduled = false;
  const deadline = performance.now() + SLICE_MS;
  while (queue.length > 0 && performance.now() < deadline) {
    const call = queue.shift()!;
    try {
      call.resolve(call.run());
    } catch (error) {
      call.reject(error);
    }
  }
  if (queue.length > 0) schedule();
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(runSlice);
}

/** Runs `call` in a coming turn of the event loop, after the calls queued before it. */
export function inTurn(call: () => number): Promise<number> {
  return new Promise((resolve, reject) => {
    queue.push({ run: call, resolve, reject });
    schedule();
  });
}
