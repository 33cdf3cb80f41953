/**
 * A client's channel data on its way into a command (its stdin pipe, a pty
 * master, a Node stream), with back-pressure: what the command does not take
 * waits in a queue bounded by the channel's and session's input high-water
 * marks (`ServerLimits`), and beyond that in libssh, whose window then stops
 * growing so the client waits.
 *
 * @module
 */

import type { Writable } from "node:stream";
import { native } from "../_native.ts";
import { WOULD_BLOCK, writeFd } from "../../ffi/fd.ts";
import { CHANNEL_CORE, type ChannelCore } from "../_channel_core.ts";
import type { SshChannel } from "../channel.ts";
import type { FdStream } from "../fd_stream.ts";

/** Bytes taken from libssh per read when the command has room again. */
const READ_CHUNK = 64 * 1024;

/** Where the input goes. */
export interface InputSink {
  /** Writes what it takes now without blocking: the byte count (0 when full). Throws once nobody reads. */
  writeSome(data: Uint8Array): number;
  /** Resolves once `writeSome` may take more (or the sink failed or closed). */
  whenWritable(): Promise<void>;
  readonly closed: boolean;
  /** No more input: the reader sees end of file. */
  end(): void;
}

/**
 * Feeds one channel's data to a sink in order: what the sink takes is
 * written at once from libssh's buffer (no copy, no promise), what fits under
 * the high-water marks is queued, and the rest stays in libssh; once the sink
 * drains, the queue is written and then what libssh kept.
 */
export class ChannelInput {
  readonly #core: ChannelCore;
  readonly #sink: InputSink;
  /** Data the sink did not take yet; written before anything newer. */
  #pending: Uint8Array<ArrayBuffer>[] = [];
  /** libssh keeps data we did not take: read it once there is room. */
  #starved = false;
  #waiting = false;
  #ending = false;
  /** The sink is gone: input is dropped (sshd drops it too). */
  #dropping = false;

  /** Starts feeding `channel`'s data to `sink`, beginning with what libssh kept before. */
  constructor(channel: SshChannel, sink: InputSink) {
    this.#core = channel[CHANNEL_CORE];
    this.#sink = sink;
    this.#core.onInputRoom = () => this.#flush();
    this.#core.consumeInput((data) => this.#take(data));
    // Data sent before the command started waits in libssh: take it once the sink is ready.
    this.#starved = true;
    this.#waitWritable();
  }

  /** Data from the client, valid during the call only: returns the bytes taken; libssh keeps the rest. */
  #take(data: Uint8Array): number {
    if (this.#dropping || this.#ending) return data.length;
    let taken = 0;
    // libssh hands over everything it kept, oldest first: with nothing queued, it can go straight in.
    if (this.#pending.length === 0) {
      taken = this.#writeSome(data);
      if (this.#dropping) return data.length;
    }
    taken += this.#enqueue(data.subarray(taken));
    if (taken < data.length) this.#starved = true;
    if (this.#pending.length > 0 || this.#starved) this.#waitWritable();
    return taken;
  }

  /** The client sent EOF: end the sink once everything before it was written. */
  end(): void {
    this.#ending = true;
    this.#flush();
  }

  /** The command is gone: drop what waits and everything that comes. */
  close(): void {
    this.#dropping = true;
    this.#release();
    this.#sink.end();
  }

  /** Queues what fits under the high-water marks; returns the byte count. */
  #enqueue(data: Uint8Array): number {
    const count = Math.min(data.length, this.#core.inputRoom());
    if (count === 0) return 0;
    this.#pending.push((data as Uint8Array<ArrayBuffer>).slice(0, count));
    this.#core.holdInput(count);
    return count;
  }

  /** Writes what the sink takes now; 0 when full. Switches to dropping once nobody reads. */
  #writeSome(data: Uint8Array): number {
    try {
      return this.#sink.writeSome(data);
    } catch {
      this.close(); // EPIPE: the command does not read its input any more
      return data.length;
    }
  }

  /** Writes the queue, then what libssh kept, until the sink is full or nothing is left. */
  #flush(): void {
    while (this.#pending.length > 0 && !this.#dropping) {
      const head = this.#pending[0];
      const n = this.#writeSome(head);
      if (this.#dropping) return;
      if (n > 0) this.#core.holdInput(-n);
      if (n === head.length) this.#pending.shift();
      else {
        if (n > 0) this.#pending[0] = head.subarray(n);
        this.#waitWritable();
        return;
      }
    }
    if (this.#dropping) return;
    if (this.#starved) this.#readKept();
    if (this.#pending.length > 0 || this.#starved) this.#waitWritable();
    else if (this.#ending) this.#sink.end();
  }

  /**
   * Takes what libssh kept: into the sink while it takes it, then into the
   * queue while there is room. libssh may run `take` meanwhile (it processes
   * arriving packets first); what that queued stays ahead of what is read here.
   */
  #readKept(): void {
    for (;;) {
      const room = this.#pending.length === 0 ? READ_CHUNK : this.#core.inputRoom();
      if (room === 0) return;
      const data = this.#core.readKept(room);
      if (data === null || data.length === 0) {
        this.#starved = false;
        return;
      }
      if (this.#dropping) return;
      const written = this.#pending.length === 0 ? this.#writeSome(data) : 0;
      if (this.#dropping) return;
      if (written < data.length) {
        this.#pending.push(data.subarray(written));
        this.#core.holdInput(data.length - written);
      }
    }
  }

  #waitWritable(): void {
    if (this.#waiting || this.#sink.closed) return;
    this.#waiting = true;
    void this.#sink.whenWritable().then(() => {
      this.#waiting = false;
      this.#flush();
    });
  }

  #release(): void {
    let held = 0;
    for (const chunk of this.#pending) held += chunk.length;
    this.#pending = [];
    this.#starved = false;
    if (held > 0) this.#core.holdInput(-held);
  }
}

/** A non-blocking descriptor as a sink; `end()` closes it when `closeOnEnd` (a pipe, not a shared pty master). */
export function descriptorSink(stream: FdStream, closeOnEnd: boolean): InputSink {
  return {
    writeSome: (data) => {
      if (stream.closed) throw new Error("the descriptor is closed");
      const n = writeFd(native(), stream.fd, data as Uint8Array<ArrayBuffer>);
      return n === WOULD_BLOCK ? 0 : n;
    },
    whenWritable: () => stream.whenWritable(),
    get closed() {
      return stream.closed;
    },
    end: () => {
      if (closeOnEnd) stream.close();
    },
  };
}

/** A Node stream as a sink: it takes a chunk while under its own high-water mark. */
export function writableSink(stream: Writable): InputSink {
  const gone = (): boolean => stream.destroyed || stream.writableEnded;
  return {
    writeSome: (data) => {
      if (gone()) throw new Error("the stream is closed");
      if (stream.writableNeedDrain) return 0;
      stream.write(data.slice());
      return data.length;
    },
    whenWritable: () =>
      new Promise((resolve) => {
        if (gone() || !stream.writableNeedDrain) return resolve();
        stream.once("drain", resolve);
        stream.once("close", resolve);
      }),
    get closed() {
      return gone();
    },
    end: () => {
      if (!gone()) stream.end();
    },
  };
}
