/**
 * A network fuzzer for SSH servers (node:net, so it runs under Deno and Node).
 *
 * Three kinds of hostile clients, in turn:
 *
 * - `random-bytes`: noise instead of a banner (sometimes behind an `SSH-`
 *   prefix, a thousand lines of chatter, or a version string without end);
 * - `random-packets`: a valid banner (sometimes the recorded KEXINIT too), then
 *   packets with correct binary-packet framing or a lying length field, random
 *   message types and payloads built from random SSH fields;
 * - `mutated-handshake`: a recorded real client stream (see
 *   `scripts/record_handshake.ts`) with bit flips, byte changes, truncation,
 *   insertion, duplication and deletion, mostly in its clear part.
 *
 * Every case comes from a seed (`caseSeed(seed, index)`), so a failure is
 * replayed with `fuzzInput(kind, new Random(caseSeed(seed, index)), handshake)`.
 * A case sends its bytes in a few chunks, then half-closes (or resets) the
 * connection; the server must close its side within `closeTimeoutMs`. A
 * connection the server refuses or leaves open is a failure.
 *
 * @module
 */

import { connect } from "node:net";

/** The kinds of fuzz cases, used in turn (case `i` is of kind `FUZZ_KINDS[i % 3]`). */
export const FUZZ_KINDS = ["random-bytes", "random-packets", "mutated-handshake"] as const;
/** One kind of fuzz case. */
export type FuzzKind = typeof FUZZ_KINDS[number];

/** A small seeded generator (mulberry32): the same seed gives the same case. */
export class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.below(256);
    return out;
  }

  /** A 32-bit unsigned integer. */
  u32(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }
}

/** The seed of case `index` of a run started with `seed`. */
export function caseSeed(seed: number, index: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
}

const encoder = new TextEncoder();
const SSH_MSG_KEXINIT = 20;
const SSH_MSG_NEWKEYS = 21;

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0);
  return out;
}

/** The end of the banner line (the index after its `\n`), or 0 when there is none. */
function bannerEnd(stream: Uint8Array): number {
  const newline = stream.indexOf(0x0a);
  return newline < 0 ? 0 : newline + 1;
}

/** The clear binary packets after the banner, up to and including NEWKEYS: [start, end) and message type of each. */
export function clearPackets(stream: Uint8Array): { start: number; end: number; type: number }[] {
  const packets = [];
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  for (let offset = bannerEnd(stream); offset + 6 <= stream.length;) {
    const end = offset + 4 + view.getUint32(offset);
    if (end > stream.length) break;
    const type = stream[offset + 5];
    packets.push({ start: offset, end, type });
    offset = end;
    if (type === SSH_MSG_NEWKEYS) break;
  }
  return packets;
}

/**
 * How many bytes of a recorded client stream are in clear: the banner and
 * the packets up to and including NEWKEYS (after it, everything is encrypted
 * under keys that a replay cannot have).
 */
export function clearTextLength(stream: Uint8Array): number {
  const packets = clearPackets(stream);
  return packets.at(-1)?.end ?? bannerEnd(stream);
}

/** What one fuzz case sends, and how it ends the connection. */
export interface FuzzInput {
  kind: FuzzKind;
  /** Written one after the other, with a short pause between them. */
  chunks: Uint8Array[];
  /** `"end"`: half-close and wait for the server to close; `"reset"`: send a RST and go. */
  ending: "end" | "reset";
}

function randomBytesInput(random: Random): Uint8Array {
  switch (random.below(5)) {
    case 0: // plain noise
      return random.bytes(1 + random.below(4096));
    case 1: // an SSH- prefix, then a noisy version and noise
      return concat([
        encoder.encode("SSH-"),
        random.bytes(random.below(300)),
        encoder.encode("\r\n"),
        random.bytes(random.below(2048)),
      ]);
    case 2: { // many lines of chatter before (or instead of) a banner
      const lines = Array.from({ length: random.below(1000) }, () => "x".repeat(random.below(80)) + "\r\n");
      return concat([encoder.encode(lines.join("")), random.bytes(random.below(512))]);
    }
    case 3: // a version string that never ends
      return encoder.encode("SSH-2.0-" + "v".repeat(random.below(20000)));
    default: // a banner with a protocol version the server does not speak
      return concat([
        encoder.encode(random.pick(["SSH-1.5-x\r\n", "SSH-1.99-x\r\n", "SSH-3.0-x\r\n", "SSH-2.0\r\n"])),
        random.bytes(random.below(1024)),
      ]);
  }
}

/** A payload made of SSH fields (strings, integers, bytes, name-lists), so parsers get past the first field. */
function randomFields(random: Random): Uint8Array {
  const fields: Uint8Array[] = [];
  for (let n = random.below(12); n > 0; n--) {
    switch (random.below(5)) {
      case 0: { // a string of the length it claims
        const body = random.bytes(random.pick([0, 1, 4, 32, random.below(300)]));
        fields.push(u32(body.length), body);
        break;
      }
      case 1: // a string that claims more (or much more) than there is
        fields.push(
          u32(random.pick([0xffffffff, 0x7fffffff, 65536, random.u32()])),
          random.bytes(random.below(16)),
        );
        break;
      case 2:
        fields.push(u32(random.pick([0, 1, 0xffffffff, random.u32()])));
        break;
      case 3:
        fields.push(Uint8Array.of(random.below(256)));
        break;
      default: { // a name-list
        const names = random.pick([
          "none",
          "password",
          "publickey",
          "session",
          "curve25519-sha256",
          "ssh-ed25519",
          ",,,",
          "",
        ]);
        const body = encoder.encode(names);
        fields.push(u32(body.length), body);
      }
    }
  }
  return concat(fields);
}

/** One binary packet: correct framing most of the time, a lying length or padding field otherwise. */
function randomPacket(random: Random): Uint8Array {
  const type = random.chance(0.7)
    ? random.pick([
      1,
      2,
      3,
      4,
      5,
      6,
      7,
      20,
      21,
      30,
      31,
      50,
      51,
      52,
      53,
      60,
      61,
      80,
      81,
      82,
      90,
      91,
      92,
      93,
      94,
      95,
      96,
      97,
      98,
      99,
      100,
    ])
    : random.below(256);
  const body = random.chance(0.6)
    ? randomFields(random)
    : random.bytes(random.pick([0, 1, 4, random.below(64), random.below(1024), random.below(40000)]));
  const payload = concat([Uint8Array.of(type), body]);
  const padding = 4 + ((8 - ((5 + payload.length + 4) % 8)) % 8);
  const length = random.chance(0.8)
    ? 1 + payload.length + padding
    : random.pick([0, 1, 5, 7, 35000, 262145, 0x7fffffff, 0xffffffff, random.u32()]);
  const paddingField = random.chance(0.9) ? padding : random.below(256);
  return concat([u32(length), Uint8Array.of(paddingField), payload, random.bytes(padding)]);
}

function randomPacketsInput(random: Random, handshake: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [encoder.encode("SSH-2.0-fuzz_1.0\r\n")];
  const kexinit = clearPackets(handshake).find((packet) => packet.type === SSH_MSG_KEXINIT);
  // After a real KEXINIT the server is in the middle of a key exchange: other code runs.
  if (kexinit && random.chance(0.4)) parts.push(handshake.subarray(kexinit.start, kexinit.end));
  for (let n = 1 + random.below(8); n > 0; n--) parts.push(randomPacket(random));
  return concat(parts);
}

function mutatedHandshake(random: Random, handshake: Uint8Array): Uint8Array {
  let bytes: Uint8Array = Uint8Array.from(handshake);
  const clear = clearTextLength(handshake);
  // Mutations after NEWKEYS only meet a MAC check; most go to the clear part.
  const position = (): number =>
    random.chance(0.85) ? random.below(Math.min(clear, bytes.length) + 1) : random.below(bytes.length + 1);
  for (let n = 1 + random.below(4); n > 0; n--) {
    const at = position();
    switch (random.below(6)) {
      case 0: // bit flip
        if (at < bytes.length) bytes[at] ^= 1 << random.below(8);
        break;
      case 1: // an interesting byte value
        if (at < bytes.length) bytes[at] = random.pick([0x00, 0xff, 0x7f, 0x80, 0x01, random.below(256)]);
        break;
      case 2: // truncation
        bytes = bytes.slice(0, at);
        break;
      case 3: // insertion
        bytes = concat([bytes.subarray(0, at), random.bytes(1 + random.below(64)), bytes.subarray(at)]);
        break;
      case 4: { // duplication of a slice, right after itself
        const length = 1 + random.below(256);
        bytes = concat([
          bytes.subarray(0, at + length),
          bytes.subarray(at, at + length),
          bytes.subarray(at + length),
        ]);
        break;
      }
      default: // deletion
        bytes = concat([bytes.subarray(0, at), bytes.subarray(at + 1 + random.below(64))]);
    }
  }
  return bytes;
}

/** Cuts `bytes` into 1 to 4 chunks at random places. */
function split(random: Random, bytes: Uint8Array): Uint8Array[] {
  const cuts = Array.from({ length: random.below(4) }, () => random.below(bytes.length + 1)).sort((a, b) =>
    a - b
  );
  const chunks = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > from) chunks.push(bytes.subarray(from, cut));
    from = Math.max(from, cut);
  }
  return chunks;
}

/** The input of one case. */
export function fuzzInput(kind: FuzzKind, random: Random, handshake: Uint8Array): FuzzInput {
  const bytes = kind === "random-bytes"
    ? randomBytesInput(random)
    : kind === "random-packets"
    ? randomPacketsInput(random, handshake)
    : mutatedHandshake(random, handshake);
  return { kind, chunks: split(random, bytes), ending: random.chance(0.9) ? "end" : "reset" };
}

/** How one case ended. */
type CaseOutcome =
  | { result: "server-closed" | "reset"; written: number }
  | { result: "failed"; reason: string; written: number };

/** Sends one case's input; resolves when the server closed its side (or the case reset it). */
function runCase(host: string, port: number, input: FuzzInput, closeTimeoutMs: number): Promise<CaseOutcome> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let settled = false;
    let written = 0;
    const finish = (outcome: { result: "server-closed" } | { result: "failed"; reason: string }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...outcome, written });
    };
    const timer = setTimeout(
      () =>
        finish({
          result: "failed",
          reason: `the server left the connection open ${closeTimeoutMs} ms after the client's EOF`,
        }),
      closeTimeoutMs,
    );
    socket.resume(); // read and drop what the server says, or its close is never seen
    socket.on("end", () => finish({ result: "server-closed" }));
    socket.on("close", () => finish({ result: "server-closed" }));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      // A server that resets a hostile client is fine; one that refuses connections is not.
      if (error.code === "ECONNREFUSED") finish({ result: "failed", reason: `connection refused` });
      else finish({ result: "server-closed" });
    });
    socket.on("connect", async () => {
      for (const [i, chunk] of input.chunks.entries()) {
        if (settled) return;
        if (i > 0) await new Promise((resolve) => setTimeout(resolve, 1));
        socket.write(chunk);
        written += chunk.length;
      }
      if (settled) return;
      if (input.ending === "reset") {
        settled = true;
        clearTimeout(timer);
        socket.resetAndDestroy();
        resolve({ result: "reset", written });
      } else {
        socket.end();
      }
    });
  });
}

/** Options of `fuzz`. */
export interface FuzzOptions {
  /** The server's port (on `host`, default 127.0.0.1). */
  port: number;
  host?: string;
  /** Number of cases. */
  cases: number;
  /** Cases in flight at once. Default 16. */
  concurrency?: number;
  /** The run's seed (default: random); reported so a failure can be replayed. */
  seed?: number;
  /** A recorded client stream (`tests/fixtures/ssh2_handshake.bin`). */
  handshake: Uint8Array;
  /** How long the server may take to close after the client's EOF. Default 5000 ms. */
  closeTimeoutMs?: number;
  /** Called after each case with the number done. */
  onProgress?: (done: number) => void;
}

/** A case that failed, with what replays it. */
export interface FuzzFailure {
  index: number;
  kind: FuzzKind;
  caseSeed: number;
  reason: string;
}

/** What a fuzz run did. */
export interface FuzzReport {
  seed: number;
  cases: number;
  byKind: Record<FuzzKind, number>;
  /** Bytes handed to the sockets (a case stops writing once the server closed). */
  bytesSent: number;
  /** Cases the server closed after the client's EOF (or reset itself). */
  serverClosed: number;
  /** Cases that ended with the client's RST. */
  resets: number;
  failures: FuzzFailure[];
  durationMs: number;
}

/** Runs `options.cases` fuzz cases against a server, `concurrency` at a time. */
export async function fuzz(options: FuzzOptions): Promise<FuzzReport> {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
  const host = options.host ?? "127.0.0.1";
  const report: FuzzReport = {
    seed,
    cases: 0,
    byKind: { "random-bytes": 0, "random-packets": 0, "mutated-handshake": 0 },
    bytesSent: 0,
    serverClosed: 0,
    resets: 0,
    failures: [],
    durationMs: 0,
  };
  const started = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < options.cases) {
      const index = next++;
      const kind = FUZZ_KINDS[index % FUZZ_KINDS.length];
      const seedOfCase = caseSeed(seed, index);
      const input = fuzzInput(kind, new Random(seedOfCase), options.handshake);
      const outcome = await runCase(host, options.port, input, options.closeTimeoutMs ?? 5000);
      report.cases++;
      report.byKind[kind]++;
      report.bytesSent += outcome.written;
      if (outcome.result === "failed") {
        report.failures.push({ index, kind, caseSeed: seedOfCase, reason: outcome.reason });
      } else if (outcome.result === "reset") report.resets++;
      else report.serverClosed++;
      options.onProgress?.(report.cases);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 16 }, worker));
  report.durationMs = Math.round(performance.now() - started);
  return report;
}
