/**
 * How much output libssh holds for one session. libssh 0.10 to 0.12 tell only
 * whether its output buffer is empty (`ssh_get_status`), not its length; its
 * counters (`ssh_set_counters`) say what went in and what left:
 *
 * - the packet counter adds each packet's payload when it is encrypted into
 *   the output buffer, the socket counter each byte written to the socket; a
 *   packet adds at most `PACKET_OVERHEAD` to its payload (length, padding,
 *   MAC), so payload + overhead × packets − socket bytes, counted from the
 *   last moment the buffer was empty, bounds what the buffer holds;
 * - once libssh itself started a key re-exchange (after its data or time
 *   limit), it queues packets unencrypted until the client's answer: data
 *   `ssh_channel_write` took without raising the payload count waits there,
 *   and is counted until the payload count catches up. (Once the client's
 *   answer came, `ssh_channel_write` takes nothing until the exchange ends.)
 *
 * The counters live in memory this object owns; keep it until `ssh_free`.
 *
 * @module
 */

import type { Backend, Pointer } from "./backend.ts";

/** The most a packet adds to its payload: 4 (length) + 1 + padding (≤ 35) + MAC (≤ 64), rounded up. */
const PACKET_OVERHEAD = 128;
/** `struct ssh_counter_struct`: in_bytes, out_bytes, in_packets, out_packets (uint64 each). */
const COUNTER_CELLS = 4;
const IN_BYTES = 0;
const OUT_BYTES = 1;
const OUT_PACKETS = 3;

/** A session's output counters and the bound they give. */
export class OutputCounters {
  /** The socket counter, then the packet counter; 128 bytes, so V8 keeps them off its heap (they must not move). */
  readonly #cells = new BigUint64Array(2 * COUNTER_CELLS * 2);
  /** What `#made() - #written()` was when the buffer was last seen empty. */
  #offset = 0;
  /** Data handed to libssh that is not encrypted yet (queued during a key re-exchange), at most. */
  #unencrypted = 0;
  #lastPayload = 0;

  /** Points the session's counters at this object's memory. */
  constructor(backend: Backend, session: Pointer) {
    const socket = backend.pointerOf(this.#cells);
    const packets = backend.pointerAt(backend.address(socket) + BigInt(COUNTER_CELLS * 8));
    backend.libssh.ssh_set_counters(session, socket, packets);
  }

  #payload(): number {
    return Number(this.#cells[COUNTER_CELLS + OUT_BYTES]);
  }

  /** Bytes the packets made so far take at most on the wire, minus what the socket took. */
  #unsent(): number {
    const made = this.#payload() + PACKET_OVERHEAD * Number(this.#cells[COUNTER_CELLS + OUT_PACKETS]);
    return made - Number(this.#cells[OUT_BYTES]);
  }

  /** Bytes read from the socket so far: when it moves, libssh processed what came in. */
  received(): number {
    return Number(this.#cells[IN_BYTES]);
  }

  /** Payload bytes encrypted so far; read it before `ssh_channel_write`, pass it to `wrote`. */
  payload(): number {
    return this.#payload();
  }

  /** `ssh_channel_write` took `bytes`; the payload count was `payloadBefore` before the call. */
  wrote(bytes: number, payloadBefore: number): void {
    this.#settle(payloadBefore);
    const payload = this.#payload();
    this.#unencrypted += Math.max(0, bytes - (payload - payloadBefore));
    this.#lastPayload = payload;
  }

  /** Packets encrypted outside our writes (after a key re-exchange: its queue) leave the queue. */
  #settle(payload: number): void {
    if (payload <= this.#lastPayload) return;
    this.#unencrypted = Math.max(0, this.#unencrypted - (payload - this.#lastPayload));
    this.#lastPayload = payload;
  }

  /** libssh says its output buffer is empty: count from here. */
  drained(): void {
    this.#offset = this.#unsent();
  }

  /** An upper bound of the bytes libssh holds for the socket (its buffer and its re-exchange queue). */
  queued(): number {
    this.#settle(this.#payload());
    return Math.max(0, this.#unsent() - this.#offset) + this.#unencrypted;
  }
}
