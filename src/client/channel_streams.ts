/**
 * A client channel's two input streams: the data (a command's stdout) and
 * the extended data (its stderr), apart, each with back-pressure.
 *
 * While a stream is full, its data callback takes nothing: libssh keeps the
 * bytes and stops growing the window, so the server stops sending. A pull
 * takes what libssh kept. Both streams exist from the channel's creation, so
 * no byte is lost or mixed before the caller looks at them.
 *
 * @module
 */

import type { ChannelCore, ChannelOwner } from "../_channel_core.ts";
import type { SshError } from "../errors.ts";
import type { ClientCore } from "./client_core.ts";

/** Bytes each stream buffers before it stops taking data. */
const INPUT_HIGH_WATER = 1024 * 1024;
/** Bytes read from libssh per call when a paused stream resumes. */
const READ_CHUNK = 64 * 1024;
/** Where resumed reads land; what is kept is copied out at once. */
const scratch = new Uint8Array(READ_CHUNK);

interface Input {
  readonly index: 0 | 1;
  controller: ReadableStreamDefaultController<Uint8Array>;
  /** libssh holds bytes of this stream that we did not take. */
  paused: boolean;
  done: boolean;
}

/** The stdout and stderr streams of one client channel. */
export class ChannelStreams {
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  readonly #core: ChannelCore<ClientCore, ChannelOwner>;
  readonly #inputs: Input[] = [];
  #remoteEof = false;
  #drained!: () => void;
  /** Resolves once both streams ended (everything libssh kept was taken, or a stream was cancelled). */
  readonly drained: Promise<void> = new Promise((resolve) => this.#drained = resolve);

  constructor(core: ChannelCore<ClientCore, ChannelOwner>) {
    this.#core = core;
    this.stdout = this.#stream(0);
    this.stderr = this.#stream(1);
    core.addHandlers({
      data: (data, isStderr) => this.#take(this.#inputs[isStderr ? 1 : 0], data),
      eof: () => this.#ended(),
      close: () => this.#ended(),
    }, "client channel input");
  }

  #stream(index: 0 | 1): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#inputs[index] = { index, controller, paused: false, done: false };
      },
      pull: () => this.#resume(this.#inputs[index]),
      cancel: () => this.#discard(this.#inputs[index]),
    }, { highWaterMark: INPUT_HIGH_WATER, size: (chunk) => chunk.byteLength });
  }

  #take(input: Input, data: Uint8Array): number {
    if (input.done) return data.length; // nobody reads this stream any more
    const room = input.controller.desiredSize ?? 0;
    if (room <= 0) {
      input.paused = true;
      return 0;
    }
    if (room < data.length) {
      input.paused = true;
      input.controller.enqueue(data.slice(0, room));
      return room;
    }
    input.controller.enqueue(data);
    return data.length;
  }

  /** The stream wants more: take what libssh kept while it was full. */
  #resume(input: Input): void {
    const core = this.#core;
    if (!input.paused || input.done || core.freed) return;
    const { libssh } = core.session.backend;
    input.paused = false;
    for (let room = input.controller.desiredSize ?? 0; room > 0 && !input.done;) {
      const count = Math.min(room, READ_CHUNK);
      const n = core.session.call(() =>
        libssh.ssh_channel_read_nonblocking(core.handle, scratch, count, input.index)
      );
      if (n <= 0) break;
      input.controller.enqueue(scratch.slice(0, n));
      room = input.controller.desiredSize ?? 0;
    }
    core.session.updateInterest();
    if (!input.done && (input.controller.desiredSize ?? 0) <= 0) {
      input.paused = libssh.ssh_channel_poll(core.handle, input.index) > 0;
    }
    if (this.#remoteEof) this.#finish(input);
  }

  /** A cancelled stream: what libssh kept for it is dropped, so the window opens for the other. */
  #discard(input: Input): void {
    input.done = true;
    this.#checkDrained();
    const core = this.#core;
    if (!input.paused || core.freed) return;
    input.paused = false;
    const { libssh } = core.session.backend;
    while (
      core.session.call(() =>
        libssh.ssh_channel_read_nonblocking(core.handle, scratch, READ_CHUNK, input.index)
      ) > 0
    );
    core.session.updateInterest();
  }

  #ended(): void {
    this.#remoteEof = true;
    for (const input of this.#inputs) this.#finish(input);
  }

  #finish(input: Input): void {
    if (input.done) return;
    const core = this.#core;
    if (input.paused && !core.freed) {
      const kept = core.session.backend.libssh.ssh_channel_poll(core.handle, input.index);
      if (kept > 0) return; // closed once drained, by #resume
    }
    input.done = true;
    input.controller.close();
    this.#checkDrained();
  }

  #checkDrained(): void {
    if (this.#inputs.every((input) => input.done)) this.#drained();
  }

  /** The channel is gone: streams end, with `error` when the connection broke first. */
  close(error?: SshError): void {
    for (const input of this.#inputs) {
      if (input.done) continue;
      input.done = true;
      input.paused = false;
      if (error) input.controller.error(error);
      else input.controller.close();
    }
    this.#drained();
  }
}
