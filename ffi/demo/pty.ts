/**
 * Pseudo-terminals: `openpty()`, the slave's path, and window sizes.
 *
 * @module
 */

import type { Backend } from "../backend.ts";
import { claimDescriptors, ErrnoError, prepareFd } from "../fd.ts";
import { TIOCSWINSZ } from "../platform.ts";
import { demoLibc } from "./libc.ts";

/** An open pseudo-terminal pair. */
export interface PtyPair {
  /** Our end (non-blocking, close-on-exec). */
  readonly master: number;
  /** The terminal's end, held open until the program on it has started. */
  readonly slave: number;
  /** The terminal's path (`/dev/pts/N`), for the child to open as its controlling terminal. */
  readonly path: string;
}

/** A terminal size in characters and pixels. */
export interface WindowSize {
  readonly columns: number;
  readonly rows: number;
  readonly widthPixels?: number;
  readonly heightPixels?: number;
}

const clampU16 = (n: number | undefined): number => Math.max(0, Math.min(0xffff, Math.trunc(n ?? 0) || 0));

/** `struct winsize`: rows, columns, x pixels, y pixels (unsigned short each). */
function winsize(size: WindowSize): Uint16Array<ArrayBuffer> {
  return new Uint16Array([
    clampU16(size.rows),
    clampU16(size.columns),
    clampU16(size.widthPixels),
    clampU16(size.heightPixels),
  ]);
}

/** Opens a pty pair with the given window size; throws `ErrnoError` on failure. */
export function openPty(backend: Backend, size: WindowSize): PtyPair {
  const fds = new Int32Array(2);
  if (demoLibc(backend).openpty(fds.subarray(0, 1), fds.subarray(1, 2), null, null, winsize(size)) !== 0) {
    throw new ErrnoError(backend, "openpty");
  }
  const [master, slave] = fds;
  claimDescriptors(backend, "openpty", master, slave);
  try {
    prepareFd(backend, master);
    prepareFd(backend, slave);
    const name = new Uint8Array(256);
    const rc = demoLibc(backend).ttyname_r(slave, name, name.length);
    if (rc !== 0) throw new ErrnoError(backend, "ttyname_r", rc);
    const path = new TextDecoder().decode(name.subarray(0, name.indexOf(0)));
    return { master, slave, path };
  } catch (error) {
    backend.libc.close(master);
    backend.libc.close(slave);
    throw error;
  }
}

/** Tells the terminal (and so the program's foreground process group, by SIGWINCH) its new size. */
export function resizePty(backend: Backend, master: number, size: WindowSize): boolean {
  return backend.libc.ioctl(master, BigInt(TIOCSWINSZ), winsize(size)) === 0;
}
