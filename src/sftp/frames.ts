/**
 * Cuts the server's byte stream into SFTP packets, with a bound on a
 * packet's length checked before anything is held for it.
 *
 * @module
 */

import { MalformedPacketError } from "./packet.ts";

/**
 * Splits a byte stream into packet bodies (the bytes after each `uint32`
 * length), each handed on as the views of the chunks it lies in, in order:
 * one view for a packet inside one chunk, several for one split across
 * chunks. Nothing is copied: a read's data reaches the caller in the pieces
 * the transport delivered (a copy would cost an allocation of its size per
 * read, page faults and all). A length of 0 or above `maxLength` throws
 * `MalformedPacketError`: the stream cannot be resynchronised after it.
 */
export class PacketFramer {
  readonly #maxLength: number;
  readonly #header = new Uint8Array(4);
  #headerFilled = 0;
  /** The parts of the packet begun, and the bytes it still needs. */
  #parts: Uint8Array[] = [];
  #missing = 0;

  constructor(maxLength: number) {
    this.#maxLength = maxLength;
  }

  /** True while a packet has begun and not ended (the stream ending now would truncate it). */
  get partial(): boolean {
    return this.#headerFilled > 0 || this.#missing > 0;
  }

  /** Feeds one chunk; `onPacket` is called for each packet it completes, in order. */
  push(chunk: Uint8Array, onPacket: (parts: Uint8Array[]) => void): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#missing > 0) {
        const n = Math.min(chunk.length - offset, this.#missing);
        this.#parts.push(chunk.subarray(offset, offset + n));
        this.#missing -= n;
        offset += n;
        if (this.#missing === 0) {
          const parts = this.#parts;
          this.#parts = [];
          onPacket(parts);
        }
        continue;
      }
      let length: number;
      if (this.#headerFilled === 0 && chunk.length - offset >= 4) {
        length = new DataView(chunk.buffer, chunk.byteOffset + offset, 4).getUint32(0);
        offset += 4;
      } else {
        const n = Math.min(4 - this.#headerFilled, chunk.length - offset);
        this.#header.set(chunk.subarray(offset, offset + n), this.#headerFilled);
        this.#headerFilled += n;
        offset += n;
        if (this.#headerFilled < 4) return;
        this.#headerFilled = 0;
        length = new DataView(this.#header.buffer).getUint32(0);
      }
      if (length === 0 || length > this.#maxLength) {
        throw new MalformedPacketError(
          length === 0
            ? "a packet of length 0"
            : `a packet of ${length} bytes, over the limit of ${this.#maxLength} (maxPacketLength)`,
        );
      }
      if (chunk.length - offset >= length) {
        onPacket([chunk.subarray(offset, offset + length)]);
        offset += length;
      } else this.#missing = length;
    }
  }
}

/**
 * The first `length` bytes of `parts` as one array (a view when the first
 * part holds them, else a copy), and the views of the rest. Throws
 * `MalformedPacketError` if the parts hold fewer bytes.
 */
export function splitParts(parts: Uint8Array[], length: number): [Uint8Array, Uint8Array[]] {
  const first = parts[0];
  if (first.length >= length) {
    const rest = parts.slice(1);
    if (first.length > length) rest.unshift(first.subarray(length));
    return [first.subarray(0, length), rest];
  }
  const head = new Uint8Array(length);
  let filled = 0;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    const n = Math.min(part.length, length - filled);
    head.set(part.subarray(0, n), filled);
    filled += n;
    if (filled === length) {
      const rest = parts.slice(i + 1);
      if (n < part.length) rest.unshift(part.subarray(n));
      return [head, rest];
    }
  }
  throw new MalformedPacketError(`a packet of ${filled} bytes, shorter than its first fields (${length})`);
}
