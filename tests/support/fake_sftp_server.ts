/**
 * An SFTP server that lies, in this process: the tests give it what to
 * answer (or not), byte for byte, to check that `SftpClient` turns every
 * malformed, oversized, truncated or unexpected packet into a clean error.
 *
 * @module
 */

import type { SftpTransport } from "../../mod.ts";

/** A request the fake server received: its type, id (absent for INIT) and the bytes after them. */
export interface ReceivedRequest {
  type: number;
  id: number | undefined;
  body: Uint8Array;
}

/** The extensions OpenSSH's sftp-server announces that the client uses. */
export const OPENSSH_EXTENSIONS: [string, string][] = [
  ["posix-rename@openssh.com", "1"],
  ["statvfs@openssh.com", "2"],
  ["hardlink@openssh.com", "1"],
  ["fsync@openssh.com", "1"],
];

const encoder = new TextEncoder();

/** Packet fields, for `packet()`: a byte, a uint32, a uint64 (bigint), or a string (text or bytes). */
export type Field = { u8: number } | { u32: number } | { u64: bigint } | string | Uint8Array;

/** One packet: its length, `type`, then `fields`. */
export function packet(type: number, ...fields: Field[]): Uint8Array {
  const parts: Uint8Array[] = [new Uint8Array([type])];
  for (const field of fields) {
    if (typeof field === "string" || field instanceof Uint8Array) {
      const bytes = typeof field === "string" ? encoder.encode(field) : field;
      const length = new Uint8Array(4);
      new DataView(length.buffer).setUint32(0, bytes.length);
      parts.push(length, bytes);
    } else if ("u8" in field) {
      parts.push(new Uint8Array([field.u8]));
    } else if ("u32" in field) {
      const bytes = new Uint8Array(4);
      new DataView(bytes.buffer).setUint32(0, field.u32);
      parts.push(bytes);
    } else {
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setBigUint64(0, field.u64);
      parts.push(bytes);
    }
  }
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(4 + length);
  new DataView(out.buffer).setUint32(0, length);
  let offset = 4;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** `SSH_FXP_VERSION` 3 with `extensions`. */
export function versionPacket(extensions: [string, string][] = OPENSSH_EXTENSIONS, version = 3): Uint8Array {
  return packet(2, { u32: version }, ...extensions.flat());
}

/** `SSH_FXP_STATUS` for request `id`. */
export function statusPacket(id: number, code: number, message = ""): Uint8Array {
  return packet(101, { u32: id }, { u32: code }, message, "en");
}

/**
 * The fake server: the client side is `transport`; `onRequest` sees each
 * request the client sent and answers through `send` (or not).
 */
export class FakeSftpServer {
  readonly transport: SftpTransport;
  readonly received: ReceivedRequest[] = [];
  /** Called once per complete request; the default answers INIT with OpenSSH's VERSION and ignores the rest. */
  onRequest: (request: ReceivedRequest, server: FakeSftpServer) => void = (request, server) => {
    if (request.type === 1) server.send(versionPacket());
  };
  /** How many times the client called the transport's `close`. */
  closeCalls = 0;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #ended = false;
  #pending = new Uint8Array(0);

  constructor(options: { writable?: WritableStream<Uint8Array> } = {}) {
    const readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
    });
    const writable = options.writable ?? new WritableStream<Uint8Array>({
      write: (chunk) => this.receive(chunk),
    });
    this.transport = {
      readable,
      writable,
      close: () => {
        this.closeCalls++;
        this.end();
      },
    };
  }

  /** Takes the client's bytes (the default writable's sink): cuts them into requests, trusting the client's framing. */
  receive(chunk: Uint8Array): void {
    const bytes = new Uint8Array(this.#pending.length + chunk.length);
    bytes.set(this.#pending);
    bytes.set(chunk, this.#pending.length);
    let offset = 0;
    while (bytes.length - offset >= 4) {
      const length = new DataView(bytes.buffer, offset).getUint32(0);
      if (bytes.length - offset - 4 < length) break;
      const body = bytes.subarray(offset + 4, offset + 4 + length);
      offset += 4 + length;
      const type = body[0];
      const id = type === 1 ? undefined : new DataView(body.buffer, body.byteOffset + 1).getUint32(0);
      const request = { type, id, body: body.slice(type === 1 ? 1 : 5) };
      this.received.push(request);
      this.onRequest(request, this);
    }
    this.#pending = bytes.slice(offset);
  }

  /** Sends raw bytes to the client. */
  send(bytes: Uint8Array): void {
    if (!this.#ended) this.#controller.enqueue(bytes);
  }

  /** Ends the server's stream (the client sees the server go away). */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#controller.close();
  }
}
