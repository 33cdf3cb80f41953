/**
 * Line-by-line reading of a child process's output.
 *
 * @module
 */

/** Reads lines from a byte stream, keeping it drained so the writer never blocks. */
export class LineReader {
  readonly #lines: string[] = [];
  #waiters: ((line: string | undefined) => void)[] = [];
  #ended = false;
  /** The last output, for error messages. */
  tail = "";

  constructor(stream: ReadableStream<Uint8Array>) {
    void this.#pump(stream);
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    let partial = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      this.tail = (this.tail + text).slice(-2000);
      partial += text;
      const parts = partial.split("\n");
      partial = parts.pop()!;
      for (const line of parts) {
        const waiter = this.#waiters.shift();
        if (waiter) waiter(line);
        else if (this.#lines.length < 100) this.#lines.push(line);
      }
    }
    this.#ended = true;
    for (const waiter of this.#waiters) waiter(undefined);
    this.#waiters = [];
  }

  /** The next line; undefined once the stream ended. */
  next(): Promise<string | undefined> {
    const line = this.#lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}
