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

/** Waits on descriptors; one `poll()` at a time. */
export class Poller {
  readonly #backend: Backend;
  readonly #wakeFd: number;
  readonly #eight = new BigUint64Array([1n]);
  readonly #scratch = new BigUint64Array(1);
  #wakePending = false;
  #buffer = new Uint8Array(POLLFD_BYTES * 16);
  #closed = false;

  constructor(backend: Backend) {
    this.#backend = backend;
    this.#wakeFd = backend.libc.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (this.#wakeFd < 0) throw new Error("eventfd() failed");
  }

  /** Writes the pollfd array: the eventfd first, then `requests`. */
  #fill(requests: readonly PollRequest[]): DataView {
    const count = requests.length + 1;
    if (this.#buffer.length < count * POLLFD_BYTES) this.#buffer = new Uint8Array(count * POLLFD_BYTES * 2);
    const view = new DataView(this.#buffer.buffer);
    view.setInt32(0, this.#wakeFd, true);
    view.setInt16(4, POLLIN, true);
    view.setInt16(6, 0, true);
    for (let i = 0; i < requests.length; i++) {
      const offset = (i + 1) * POLLFD_BYTES;
      view.setInt32(offset, requests[i].fd, true);
      view.setInt16(offset + 4, requests[i].events, true);
      view.setInt16(offset + 6, 0, true);
    }
    return view;
  }

  #results(view: DataView, ready: number, count: number): Int16Array | undefined {
    if (ready <= 0) return undefined;
    if (view.getInt16(6, true) !== 0) this.#drain();
    const revents = new Int16Array(count);
    for (let i = 0; i < count; i++) revents[i] = view.getInt16((i + 1) * POLLFD_BYTES + 6, true);
    return revents;
  }

  /**
   * Waits until one of `requests` is ready or `wake()` is called, and returns
   * each request's `revents` (same order). Never call it twice at once.
   */
  async wait(requests: readonly PollRequest[], timeoutMs = -1): Promise<Int16Array> {
    const view = this.#fill(requests);
    const ready = await this.#backend.libc.poll(this.#buffer, BigInt(requests.length + 1), timeoutMs);
    return this.#results(view, ready, requests.length) ?? new Int16Array(requests.length);
  }

  /**
   * Asks, without waiting and without leaving the JS thread, which of
   * `requests` are ready: `undefined` when none is. A busy server finds work
   * this way without a round trip through the worker thread.
   */
  pollNow(requests: readonly PollRequest[]): Int16Array | undefined {
    const view = this.#fill(requests);
    const ready = this.#backend.libc.poll_now(this.#buffer, BigInt(requests.length + 1), 0);
    const revents = this.#results(view, ready, requests.length);
    return revents?.some((r) => r !== 0) ? revents : undefined;
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
