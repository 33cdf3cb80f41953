/**
 * Waiting on many descriptors without blocking the JS thread: the small
 * `Poller` interface the reactor drives, and its Linux implementation on
 * epoll.
 *
 * The set of descriptors lives in the kernel: it is changed from the JS
 * thread (`add`, `modify`, `remove`: one `epoll_ctl` each, which never wakes
 * the waiting thread), and one `epoll_wait` at a time runs on a worker thread
 * and fills a fixed array with the ready descriptors only. So the cost of a
 * wait and of a change does not grow with the number of descriptors watched.
 * An `eventfd` in the set only interrupts a wait, for the reactor to stop.
 *
 * A port to another system (kqueue on macOS and the BSDs) implements the same
 * interface; see CONTRIBUTING.md.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import { lastErrno } from "./fd.ts";
import {
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_CTL_MOD,
  POLLIN,
} from "./platform.ts";
import { epollEventLayout } from "./structs.ts";

/** Ready descriptors taken per wait; more wait for the next one (level-triggered, nothing is lost). */
const BATCH = 256;

/** The key of the wake-up eventfd; reactor keys start at 1. */
const WAKE_KEY = 0;

/**
 * Readiness of many descriptors, level-triggered. Events are poll()'s bits
 * (`POLLIN`, `POLLOUT`; `POLLERR` and `POLLHUP` are always reported), keys
 * are the caller's numbers (1 to 2^53 - 1) reported back with each ready
 * descriptor, so that results of a wait that raced with a `remove()` and a
 * reuse of the same descriptor number can be told apart.
 */
export interface Poller {
  /** Starts watching `fd` for `events` (not 0), reported under `key`. Returns 0 or the errno. */
  add(fd: number, key: number, events: number): number;
  /** Changes what a watched `fd` waits for (not 0). Returns 0 or the errno. */
  modify(fd: number, key: number, events: number): number;
  /** Stops watching `fd`. Call it before closing the descriptor. */
  remove(fd: number): void;
  /**
   * Waits on a worker thread until something is ready, `wake()` is called or
   * `timeoutMs` (-1: no limit) passed; resolves to how many entries to read
   * with `readyKey(i)` / `readyEvents(i)` (an entry with events 0 is to be
   * skipped). One wait at a time.
   */
  wait(timeoutMs: number): Promise<number>;
  /** The key of ready entry `index` of the last wait. */
  readyKey(index: number): number;
  /** The events of ready entry `index` of the last wait. */
  readyEvents(index: number): number;
  /** Makes the wait in progress return now (or the next one, if none is in progress). */
  wake(): void;
}

/** The epoll `Poller` (Linux). */
export class EpollPoller implements Poller {
  readonly #backend: Backend;
  readonly #epollFd: number;
  readonly #wakeFd: number;
  readonly #eight = new BigUint64Array([1n]);
  readonly #scratch = new BigUint64Array(1);
  #wakePending = false;
  /** One `epoll_event` for `epoll_ctl`: the JS thread's, never the one the worker thread fills. */
  readonly #request: DataView;
  readonly #requestBytes: Uint8Array<ArrayBuffer>;
  /** `BATCH` `epoll_event`s, filled by `epoll_wait` on the worker thread. */
  readonly #readyBytes: Uint8Array<ArrayBuffer>;
  readonly #ready: DataView;
  readonly #entryBytes: number;
  readonly #dataOffset: number;

  constructor(backend: Backend) {
    this.#backend = backend;
    const layout = epollEventLayout(backend.arch);
    this.#entryBytes = layout.bytes;
    this.#dataOffset = layout.data;
    this.#requestBytes = new Uint8Array(layout.bytes);
    this.#request = new DataView(this.#requestBytes.buffer);
    this.#readyBytes = new Uint8Array(layout.bytes * BATCH);
    this.#ready = new DataView(this.#readyBytes.buffer);
    this.#epollFd = backend.libc.epoll_create1(EPOLL_CLOEXEC);
    if (this.#epollFd < 0) throw new Error(`epoll_create1() failed (errno ${lastErrno(backend)})`);
    this.#wakeFd = backend.libc.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (this.#wakeFd < 0 || this.add(this.#wakeFd, WAKE_KEY, POLLIN) !== 0) {
      throw new Error(`eventfd() failed (errno ${lastErrno(backend)})`);
    }
  }

  #control(op: number, fd: number, key: number, events: number): number {
    const request = this.#request;
    request.setUint32(0, events, true);
    // The key as two 32-bit halves: exact for every safe integer.
    request.setUint32(this.#dataOffset, key >>> 0, true);
    request.setUint32(this.#dataOffset + 4, Math.floor(key / 2 ** 32), true);
    return this.#backend.libc.epoll_ctl(this.#epollFd, op, fd, this.#requestBytes) === 0
      ? 0
      : lastErrno(this.#backend);
  }

  add(fd: number, key: number, events: number): number {
    return this.#control(EPOLL_CTL_ADD, fd, key, events);
  }

  modify(fd: number, key: number, events: number): number {
    return this.#control(EPOLL_CTL_MOD, fd, key, events);
  }

  remove(fd: number): void {
    // Fails only when the descriptor is already gone from the set (closed meanwhile): nothing to undo.
    this.#backend.libc.epoll_ctl(this.#epollFd, EPOLL_CTL_DEL, fd, this.#requestBytes);
  }

  async wait(timeoutMs: number): Promise<number> {
    const count = await this.#backend.libc.epoll_wait(this.#epollFd, this.#readyBytes, BATCH, timeoutMs);
    // -1 is EINTR (a signal reached the worker thread, whose errno we cannot read here): wait again.
    if (count < 0) return 0;
    for (let i = 0; i < count; i++) {
      if (this.readyKey(i) !== WAKE_KEY) continue;
      this.#ready.setUint32(i * this.#entryBytes, 0, true);
      this.#wakePending = false;
      this.#backend.libc.read(this.#wakeFd, this.#scratch, 8);
    }
    return count;
  }

  readyKey(index: number): number {
    const offset = index * this.#entryBytes + this.#dataOffset;
    return this.#ready.getUint32(offset, true) + this.#ready.getUint32(offset + 4, true) * 2 ** 32;
  }

  readyEvents(index: number): number {
    return this.#ready.getUint32(index * this.#entryBytes, true);
  }

  wake(): void {
    if (this.#wakePending) return;
    this.#wakePending = true; // one eventfd write is enough until the wait has seen it
    this.#backend.libc.write(this.#wakeFd, this.#eight, 8);
  }
}
