/**
 * How many libssh calls are running on the JS thread, for every session,
 * server and client alike (they nest: a callback of one call may make
 * another). A write that would go straight into libssh waits while one runs.
 *
 * @module
 */

let running = 0;

/** A libssh call starts (pair it with `leaveLibssh` in a `finally`). */
export function enterLibssh(): void {
  running++;
}

/** The libssh call started last returned. */
export function leaveLibssh(): void {
  running--;
}

/** Whether a libssh call (and so perhaps a callback of it) is running. */
export function inLibssh(): boolean {
  return running > 0;
}
