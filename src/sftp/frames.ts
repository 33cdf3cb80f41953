/**
 * Cuts the server's byte stream into SFTP packets, with a bound on a
 * packet's length checked before anything is allocated for it.
 *
 * @module
 */

import { MalformedPacketError } from "./packet.ts";

/**
 * Splits a byte stream into packet bodies (the bytes after each `uint32`
 * length). A packet that arrives whole inside one chunk is handed on as a
 * view of that chunk; one split across chunks is gathered into a buffer of
 * exactly its length. A length of 0 or above `maxLength` throws
 * `MalformedPacketError`: the stream cannot be resynchronised after it.
 */
export class PacketFramer {
  readonly #maxLength: number;
  readonly #header = new Uint8Array(4);
  #headerFilled = 0;
  #packet: Uint8Array | undefined;
  #packetFilled = 0;

  constructor(maxLength: number) {
    this.#maxLength = maxLength;
  }

  /** True while a packet has begun and not ended (the stream ending now would truncate it). */
  get partial(): boolean {
    return this.#headerFilled > 0 || this.#packet !== undefined;
  }

  /** Feeds one chunk; `onPacket` is called for each packet it completes, in order. */
  push(chunk: Uint8Array, onPacket: (body: Uint8Array) => void): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#packet) {
        const n = Math.min(chunk.length - offset, this.#packet.length - this.#packetFilled);
        this.#packet.set(chunk.subarray(offset, offset + n), this.#packetFilled);
        this.#packetFilled += n;
        offset += n;
        if (this.#packetFilled === this.#packet.length) {
          const body = this.#packet;
          this.#packet = undefined;
          onPacket(body);
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
        onPacket(chunk.subarray(offset, offset + length));
        offset += length;
      } else {
        this.#packet = new Uint8Array(length);
        this.#packetFilled = 0;
      }
    }
  }
}
