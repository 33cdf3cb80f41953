/**
 * A non-blocking descriptor this process owns (a forwarded TCP connection, a
 * pty master, one end of a jump host's socket pair), read and written with
 * promises through the reactor.
 *
 * @module
 */

import { native } from "./_native.ts";
import { closeFd, readFd, WOULD_BLOCK, writeFd } from "../ffi/fd.ts";
import { POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT } from "../ffi/platform.ts";
import { shutdownWrite } from "../ffi/tcp.ts";
import { reactor, type Watch } from "./reactor.ts";

const READ_CHUNK = 64 * 1024;
/** Where reads land; each returns a copy of its size (one allocation, not a 64 KiB buffer per read). */
const readScratch = new Uint8Array(READ_CHUNK);
const FAILED = POLLERR | POLLHUP | POLLNVAL;

/** Reads and writes one descriptor; owns it and closes it. */
export class FdStream {
  readonly fd: number;
  readonly #watch: Watch;
  #wantRead: (() => void) | undefined;
  #wantWrite: (() => void) | undefined;
  #closed = false;

  /** Takes ownership of `fd`, which must already be non-blocking. */
  constructor(fd: number) {
    this.fd = fd;
    this.#watch = reactor.watch(fd, 0, (revents) => this.#onReady(revents));
  }

  get closed(): boolean {
    return this.#closed;
  }

  #onReady(revents: number): void {
    const reader = this.#wantRead;
    const writer = this.#wantWrite;
    if (reader && revents & (POLLIN | FAILED)) this.#wantRead = undefined;
    if (writer && revents & (POLLOUT | FAILED)) this.#wantWrite = undefined;
    this.#updateInterest();
    if (reader && !this.#wantRead) reader();
    if (writer && !this.#wantWrite) writer();
  }

  #updateInterest(): void {
    this.#watch.setEvents((this.#wantRead ? POLLIN : 0) | (this.#wantWrite ? POLLOUT : 0));
  }

  #wait(direction: "read" | "write"): Promise<void> {
    return new Promise((resolve) => {
      if (direction === "read") this.#wantRead = resolve;
      else this.#wantWrite = resolve;
      this.#updateInterest();
    });
  }

  /** The next bytes; `null` at end of file or once closed. One read at a time. */
  async read(): Promise<Uint8Array<ArrayBuffer> | null> {
    while (!this.#closed) {
      const n = readFd(native(), this.fd, readScratch);
      if (n === 0) return null;
      if (n !== WOULD_BLOCK) return readScratch.slice(0, n);
      await this.#wait("read");
    }
    return null;
  }

  /** Resolves once the descriptor is readable (or failed, or closed); for callers that read it themselves. */
  whenReadable(): Promise<void> {
    return this.#closed ? Promise.resolve() : this.#wait("read");
  }

  /** Resolves once the descriptor is writable (or failed, or closed); for callers that write it themselves. */
  whenWritable(): Promise<void> {
    return this.#closed ? Promise.resolve() : this.#wait("write");
  }

  /** Writes all of `bytes`, waiting while the peer does not read. Throws once closed. */
  async write(bytes: Uint8Array<ArrayBuffer>): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      if (this.#closed) throw new Error("the descriptor is closed");
      const n = writeFd(native(), this.fd, bytes.subarray(offset));
      if (n === WOULD_BLOCK) await this.#wait("write");
      else offset += n;
    }
  }

  /** Half-closes a socket: the peer reads end of file, and may still send. */
  shutdownWrite(): void {
    if (!this.#closed) shutdownWrite(native(), this.fd);
  }

  /** Closes the descriptor and wakes any waiting read or write. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watch.close();
    closeFd(native(), this.fd);
    const reader = this.#wantRead;
    const writer = this.#wantWrite;
    this.#wantRead = this.#wantWrite = undefined;
    reader?.();
    writer?.();
  }
}

/** A channel as `bridge` uses it: a server's `SshChannel` or a client's `ClientChannel`. */
export interface ByteChannel {
  readonly readable: ReadableStream<Uint8Array>;
  readonly isOpen: boolean;
  write(data: Uint8Array): Promise<void>;
  sendEof(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Copies both ways between a channel and a socket until both directions ended
 * (half-close: EOF one way leaves the other open), then closes both.
 */
export async function bridge(channel: ByteChannel, stream: FdStream): Promise<{ up: number; down: number }> {
  let up = 0, down = 0;
  const toSocket = async (): Promise<void> => {
    for await (const chunk of channel.readable) {
      await stream.write(chunk as Uint8Array<ArrayBuffer>);
      up += chunk.length;
    }
    stream.shutdownWrite();
  };
  const toChannel = async (): Promise<void> => {
    for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) {
      await channel.write(chunk);
      down += chunk.length;
    }
    if (channel.isOpen) await channel.sendEof();
  };
  const directions = [toSocket(), toChannel()];
  try {
    // The first failure (a reset socket, a closed channel) ends both directions.
    await Promise.all(directions);
  } catch {
    // reported as the byte counts so far
  } finally {
    stream.close();
    await channel.close();
    await Promise.allSettled(directions);
  }
  return { up, down };
}
