/**
 * Many reads or writes of one file in flight at once (SFTP's answer to
 * latency), with a bound on how many, and a way to stop that waits for
 * every request sent: a stopped transfer leaves nothing pending.
 *
 * @module
 */

import { SshError } from "../errors.ts";

/** Reads up to `length` bytes at `offset`, in one piece or more; no bytes is the end of the file. */
export type ReadAt = (offset: number, length: number) => Promise<Uint8Array[]>;
/** Writes `data` at `offset`. */
export type WriteAt = (offset: number, data: Uint8Array) => Promise<void>;

type Outcome = { data: Uint8Array[] } | { error: unknown };

interface Slot {
  offset: number;
  length: number;
  /** Never rejects: a failure is an outcome, so a request nobody awaits any more is no unhandled rejection. */
  outcome: Promise<Outcome>;
}

/** The error for a transfer stopped through `signal`. */
export function abortedError(signal: AbortSignal, what: string): SshError {
  return new SshError("aborted", `${what} was aborted`, { cause: signal.reason });
}

/**
 * Reads a range of a file in order, `concurrency` requests of `chunkSize`
 * bytes ahead. A short read asks again for the rest of its chunk; an empty
 * one ends the range.
 */
export class PipelinedReader {
  readonly #readAt: ReadAt;
  readonly #chunkSize: number;
  readonly #concurrency: number;
  readonly #end: number;
  #next: number;
  #done = false;
  #slots: Slot[] = [];

  constructor(
    readAt: ReadAt,
    options: { start: number; end: number; chunkSize: number; concurrency: number },
  ) {
    this.#readAt = readAt;
    this.#next = options.start;
    this.#end = options.end;
    this.#chunkSize = options.chunkSize;
    this.#concurrency = options.concurrency;
  }

  #request(offset: number, length: number): Slot {
    const outcome = this.#readAt(offset, length).then((data) => ({ data }), (error) => ({ error }));
    return { offset, length, outcome };
  }

  /** The next bytes of the range (one read's pieces), or `null` at its end (nothing is pending then). */
  async next(): Promise<Uint8Array[] | null> {
    // Refilled in batches: the requests of a batch leave together, in one SSH packet.
    const refill = this.#slots.length <= this.#concurrency - Math.max(1, this.#concurrency >> 2);
    while (refill && !this.#done && this.#slots.length < this.#concurrency && this.#next < this.#end) {
      const length = Math.min(this.#chunkSize, this.#end - this.#next);
      this.#slots.push(this.#request(this.#next, length));
      this.#next += length;
    }
    const head = this.#slots[0];
    if (!head) return null;
    const outcome = await head.outcome;
    if ("error" in outcome) {
      await this.cancel();
      throw outcome.error;
    }
    const { data } = outcome;
    const received = data.reduce((sum, piece) => sum + piece.length, 0);
    if (received === 0) {
      await this.cancel();
      return null;
    }
    if (received < head.length) {
      this.#slots[0] = this.#request(head.offset + received, head.length - received);
    } else this.#slots.shift();
    return data;
  }

  /** Stops reading; resolves once every request sent was answered. */
  async cancel(): Promise<void> {
    this.#done = true;
    const slots = this.#slots;
    this.#slots = [];
    await Promise.all(slots.map((slot) => slot.outcome));
  }
}

/**
 * Writes consecutive bytes from `start`, in pieces of `chunkSize`, with at
 * most `concurrency` writes unanswered: `write()` resolves once its last
 * piece is sent, `finish()` once all are answered.
 */
export class PipelinedWriter {
  readonly #writeAt: WriteAt;
  readonly #chunkSize: number;
  readonly #concurrency: number;
  readonly #onWritten: ((bytes: number) => void) | undefined;
  #offset: number;
  #inFlight = 0;
  #wakers: (() => void)[] = [];
  #error: { reason: unknown } | undefined;

  constructor(
    writeAt: WriteAt,
    options: { start: number; chunkSize: number; concurrency: number; onWritten?: (bytes: number) => void },
  ) {
    this.#writeAt = writeAt;
    this.#offset = options.start;
    this.#chunkSize = options.chunkSize;
    this.#concurrency = options.concurrency;
    this.#onWritten = options.onWritten;
  }

  /** Waits for one unanswered write to be answered. */
  #settled(): Promise<void> {
    return new Promise((resolve) => this.#wakers.push(resolve));
  }

  #throwIfFailed(): void {
    if (this.#error) throw this.#error.reason;
  }

  /** Sends `data` (not copied: do not change it until `finish()`); throws the first failed write's error. */
  async write(data: Uint8Array): Promise<void> {
    for (let at = 0; at < data.length; at += this.#chunkSize) {
      while (this.#inFlight >= this.#concurrency && !this.#error) await this.#settled();
      this.#throwIfFailed();
      const piece = data.subarray(at, at + this.#chunkSize);
      const offset = this.#offset;
      this.#offset += piece.length;
      this.#inFlight++;
      this.#writeAt(offset, piece).then(
        () => this.#onWritten?.(piece.length),
        (reason) => this.#error ??= { reason },
      ).finally(() => {
        this.#inFlight--;
        const wakers = this.#wakers;
        this.#wakers = [];
        for (const wake of wakers) wake();
      });
    }
    this.#throwIfFailed();
  }

  /** Resolves once every write sent was answered; throws the first failed write's error. */
  async finish(): Promise<void> {
    while (this.#inFlight > 0) await this.#settled();
    this.#throwIfFailed();
  }

  /** Like `finish()`, without throwing: for a transfer that stops anyway. */
  async cancel(): Promise<void> {
    while (this.#inFlight > 0) await this.#settled();
  }
}
