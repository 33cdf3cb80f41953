/**
 * One `poll()` over many file descriptors, run on a worker thread so the JS
 * thread never blocks, plus an `eventfd` that interrupts it at once.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import { EFD_CLOEXEC, EFD_NONBLOCK, POLLIN } from "./platform.ts";
import { POLLFD_BYTES } from "./structs.ts";

/** A descriptor to wait on, with `poll()`'s event bits. */
export interface PollRequest {
  readonly fd: number;
  readonly events: number;
}

/**
 * Waits on a set of descriptors; one `poll()` at a time. The set is kept in
 * the native `pollfd` array between polls (`setRequests` rewrites it), and
 * results are read from it in place: polling allocates nothing.
 */
export class Poller {
  readonly #backend: Backend;
  readonly #wakeFd: number;
  readonly #eight = new BigUint64Array([1n]);
  readonly #scratch = new BigUint64Array(1);
  #wakePending = false;
  #buffer = new Uint8Array(POLLFD_BYTES * 16);
  #view = new DataView(this.#buffer.buffer);
  #count = 0;
  #closed = false;

  constructor(backend: Backend) {
    this.#backend = backend;
    this.#wakeFd = backend.libc.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (this.#wakeFd < 0) throw new Error("eventfd() failed");
  }

  /** Sets what the next polls wait for: the eventfd first, then `requests`. Not during a `wait()`. */
  setRequests(requests: readonly PollRequest[]): void {
    const entries = requests.length + 1;
    if (this.#buffer.length < entries * POLLFD_BYTES) {
      this.#buffer = new Uint8Array(entries * POLLFD_BYTES * 2);
      this.#view = new DataView(this.#buffer.buffer);
    }
    const view = this.#view;
    view.setInt32(0, this.#wakeFd, true);
    view.setInt16(4, POLLIN, true);
    view.setInt16(6, 0, true);
    for (let i = 0; i < requests.length; i++) {
      const offset = (i + 1) * POLLFD_BYTES;
      view.setInt32(offset, requests[i].fd, true);
      view.setInt16(offset + 4, requests[i].events, true);
      view.setInt16(offset + 6, 0, true);
    }
    this.#count = requests.length;
  }

  /** The `revents` of request `index` from the last poll. */
  revents(index: number): number {
    return this.#view.getInt16((index + 1) * POLLFD_BYTES + 6, true);
  }

  /** After a poll: true when a request (not only the eventfd) is ready. */
  #settle(ready: number): boolean {
    if (ready <= 0) return false;
    let requestsReady = ready;
    if (this.#view.getInt16(6, true) !== 0) {
      this.#drain();
      requestsReady--;
    }
    return requestsReady > 0;
  }

  /**
   * Waits until a request is ready or `wake()` is called; then read
   * `revents(i)`. Never call it twice at once, nor `setRequests` meanwhile.
   */
  async wait(timeoutMs = -1): Promise<void> {
    const ready = await this.#backend.libc.poll(this.#buffer, BigInt(this.#count + 1), timeoutMs);
    this.#settle(ready);
  }

  /** Interrupts a `wait()` in progress (or makes the next one return at once). */
  wake(): void {
    if (this.#closed || this.#wakePending) return;
    this.#wakePending = true; // one eventfd write is enough until the poll has seen it
    this.#backend.libc.write(this.#wakeFd, this.#eight, 8);
  }

  #drain(): void {
    this.#wakePending = false;
    this.#backend.libc.read(this.#wakeFd, this.#scratch, 8);
  }

  /** Closes the eventfd; only once no `wait()` is in progress. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#backend.libc.close(this.#wakeFd);
  }
}
