/**
 * The SFTP version 3 wire format (draft-ietf-secsh-filexfer-02): packet
 * types, and a writer and a reader for packet bodies. Every read is checked
 * against the packet's end: a field that runs past it is a malformed packet,
 * never an out-of-bounds read or an allocation the server sized.
 *
 * @module
 */

/** Packet types (`SSH_FXP_*`). */
export enum PacketType {
  Init = 1,
  Version = 2,
  Open = 3,
  Close = 4,
  Read = 5,
  Write = 6,
  Lstat = 7,
  Fstat = 8,
  Setstat = 9,
  Fsetstat = 10,
  Opendir = 11,
  Readdir = 12,
  Remove = 13,
  Mkdir = 14,
  Rmdir = 15,
  Realpath = 16,
  Stat = 17,
  Rename = 18,
  Readlink = 19,
  Symlink = 20,
  Status = 101,
  Handle = 102,
  Data = 103,
  Name = 104,
  Attrs = 105,
  Extended = 200,
  ExtendedReply = 201,
}

/** The protocol version this client speaks. */
export const SFTP_VERSION = 3;

/** A packet from the server that does not parse; the session cannot go on after it. */
export class MalformedPacketError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MalformedPacketError";
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Builds one packet: the length field, the type, then fields. The length is
 * filled in by `finish()`, which can count a payload sent separately after
 * the packet (the data of a write request, so it is never copied).
 */
export class PacketWriter {
  #bytes: Uint8Array;
  #view: DataView;
  #length = 4;

  constructor(type: PacketType, sizeHint = 64) {
    this.#bytes = new Uint8Array(Math.max(sizeHint, 16));
    this.#view = new DataView(this.#bytes.buffer);
    this.uint8(type);
  }

  #reserve(n: number): number {
    const at = this.#length;
    if (at + n > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(this.#bytes.length * 2, at + n));
      grown.set(this.#bytes.subarray(0, at));
      this.#bytes = grown;
      this.#view = new DataView(grown.buffer);
    }
    this.#length = at + n;
    return at;
  }

  uint8(value: number): this {
    const at = this.#reserve(1);
    this.#bytes[at] = value;
    return this;
  }

  uint32(value: number): this {
    const at = this.#reserve(4);
    this.#view.setUint32(at, value);
    return this;
  }

  uint64(value: number): this {
    const at = this.#reserve(8);
    this.#view.setBigUint64(at, BigInt(value));
    return this;
  }

  /** A `string` field: UTF-8 text or raw bytes, behind their length. */
  string(value: string | Uint8Array): this {
    const bytes = typeof value === "string" ? encoder.encode(value) : value;
    this.uint32(bytes.length);
    const at = this.#reserve(bytes.length); // before reading #bytes: reserving may replace it
    this.#bytes.set(bytes, at);
    return this;
  }

  /** The packet; `trailing` bytes the caller sends right after it count in its length. */
  finish(trailing = 0): Uint8Array {
    this.#view.setUint32(0, this.#length - 4 + trailing);
    return this.#bytes.subarray(0, this.#length);
  }
}

/** Reads the fields of one packet body (the bytes after the length field). */
export class PacketReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #offset: number;

  constructor(body: Uint8Array, offset = 0) {
    this.#bytes = body;
    this.#view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    this.#offset = offset;
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }

  #take(n: number, what: string): number {
    if (n > this.remaining) {
      throw new MalformedPacketError(
        `${what} runs past the end of the packet (${this.remaining} bytes left)`,
      );
    }
    const at = this.#offset;
    this.#offset += n;
    return at;
  }

  uint8(what: string): number {
    return this.#bytes[this.#take(1, what)];
  }

  uint32(what: string): number {
    return this.#view.getUint32(this.#take(4, what));
  }

  /** A 64-bit field as a number; above 2^53 it is no size or offset this client can use. */
  uint64(what: string): number {
    const value = this.#view.getBigUint64(this.#take(8, what));
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new MalformedPacketError(`${what} is too large (${value})`);
    }
    return Number(value);
  }

  /** A 64-bit field whole (an identifier, not a quantity). */
  uint64Big(what: string): bigint {
    return this.#view.getBigUint64(this.#take(8, what));
  }

  /** A `string` field's bytes: a view into the packet, not a copy. */
  bytes(what: string): Uint8Array {
    const length = this.uint32(`${what} length`);
    const at = this.#take(length, what);
    return this.#bytes.subarray(at, at + length);
  }

  /** A `string` field as text (UTF-8; bytes that are not UTF-8 become U+FFFD). */
  text(what: string): string {
    return decoder.decode(this.bytes(what));
  }
}
