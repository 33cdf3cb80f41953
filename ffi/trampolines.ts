/**
 * Native entry points for libssh's callbacks, and the structs that carry them.
 *
 * Each callback field has ONE native function pointer for the whole process
 * (koffi allows only 8192 live callbacks; Deno's are costly to make). libssh
 * passes the struct's `userdata` back to it; that is a small integer naming a
 * `CallbackTarget`, whose handlers receive decoded JS values. Whatever a
 * handler does, the trampoline returns the SAFE value when it throws or
 * returns something unusable: a throwing auth check must never become
 * `SSH_AUTH_SUCCESS` (0), which is what a Deno callback returns on exceptions.
 *
 * @module
 */

import type { Backend, NativeCallback, Pointer } from "./backend.ts";
import {
  type CallbackField,
  CHANNEL_CALLBACKS,
  type ChannelCallbackField,
  type ChannelHandlers,
  HEADER_BYTES,
  SERVER_CALLBACKS,
  type ServerCallbackField,
  type ServerHandlers,
  type StructLayout,
} from "./structs.ts";

export type { ChannelHandlers, ServerHandlers };

/** The message callback: 1 lets libssh answer with its default reply, 0 means handled. */
export interface MessageHandlers {
  message(message: Pointer): number;
}

/** Reported when a handler throws; the trampoline has already returned the safe value. */
export type TrampolineErrorSink = (error: unknown, callback: string) => void;

type Handlers = Partial<ServerHandlers & ChannelHandlers & MessageHandlers>;

/**
 * The most a data callback sees at once. libssh offers everything it holds
 * for a channel, and offers it again with each new packet while a consumer
 * takes nothing (back-pressure): copying all of it each time would cost up to
 * a whole window per packet. The handler gets the data in pieces of this size
 * for as long as it takes each piece whole.
 */
const DATA_PIECE = 64 * 1024;

/** Hands channel data to `handler` piece by piece; returns the bytes it took (a non-integer as is). */
function invokeData(
  backend: Backend,
  handler: (...a: unknown[]) => unknown,
  target: CallbackTarget,
  args: unknown[],
): unknown {
  const [, , data, length, isStderr] = args;
  const total = int(length);
  const stderr = int(isStderr) !== 0;
  const base = backend.address(data as Pointer);
  // A transient piece is valid during the call only: no allocation per piece. Nested calls get their own.
  const scratch = target.transientData ? (dataScratch.pop() ?? new Uint8Array(DATA_PIECE)) : undefined;
  let taken = 0;
  try {
    do {
      const size = Math.min(DATA_PIECE, total - taken);
      const at = backend.pointerAt(base + BigInt(taken));
      let piece: Uint8Array<ArrayBuffer>;
      if (scratch) {
        piece = scratch.subarray(0, size);
        backend.copyInto(at, piece);
      } else {
        piece = backend.readBytes(at, size);
      }
      const used = handler.call(target.handlers, piece, stderr);
      if (typeof used !== "number" || !Number.isInteger(used) || used < 0 || used > size) return used;
      taken += used;
      if (used < size) break;
    } while (taken < total);
  } finally {
    if (scratch) dataScratch.push(scratch);
  }
  return taken;
}

/** Buffers for transient data pieces, reused (one per nesting level in use). */
const dataScratch: Uint8Array<ArrayBuffer>[] = [];

const MESSAGE_ENTRY: CallbackField = {
  member: "ssh_message_callback",
  parameters: ["pointer", "pointer", "pointer"],
  result: "i32",
  safe: 1,
  answer: "none",
  decode: (_b, [_s, message]) => [message],
};

const int = (v: unknown): number => Number(v);

/** An object whose handlers a callback struct reaches through its `userdata` id. */
export interface CallbackTarget {
  readonly handlers: Handlers;
  readonly onError: TrampolineErrorSink;
  /** The data handler copies what it keeps: it gets pieces valid during the call only, without an allocation each. */
  readonly transientData?: boolean;
}

const targets = new Map<number, CallbackTarget>();
let nextId = 1;
const natives = new Map<string, NativeCallback>();

function safeResult(entry: CallbackField, args: unknown[], backend: Backend): number | Pointer {
  if (typeof entry.safe === "function") return entry.safe(args);
  return entry.safe === null ? backend.pointerAt(0n) : entry.safe;
}

/** The process-wide native function for one callback field, made on first use. */
function nativeFor(backend: Backend, name: string, entry: CallbackField): Pointer {
  let callback = natives.get(name);
  if (!callback) {
    const userdataIndex = entry.parameters.length - 1;
    const signature = { parameters: entry.parameters, result: entry.result };
    callback = backend.createCallback(signature, (...args: unknown[]) => {
      const target = targets.get(Number(backend.address(args[userdataIndex] as Pointer)));
      const handler = target?.handlers[name as keyof Handlers] as ((...a: unknown[]) => unknown) | undefined;
      if (!target || !handler) return safeResult(entry, args, backend);
      try {
        const result = entry.pieces
          ? invokeData(backend, handler, target, args)
          : handler.apply(target.handlers, [...entry.decode(backend, args.slice(0, userdataIndex))]);
        if (entry.result === "void") return;
        if (entry.result === "pointer") return (result ?? null) as Pointer;
        if (typeof result === "number" && Number.isInteger(result)) return result;
        throw new TypeError(`${name} handler returned ${String(result)}, not an integer`);
      } catch (error) {
        try {
          target.onError(error, name);
        } catch { /* the error sink must not turn a denial into a success */ }
        return safeResult(entry, args, backend);
      }
    });
    natives.set(name, callback);
  }
  return callback.pointer;
}

/**
 * Makes every trampoline at once. `native()` calls it right after loading
 * libssh, before libssh can call into JS: koffi (3.3.4) ties a registered
 * callback to the state of its call stack at registration, so a callback
 * registered while libssh is calling JS (e.g. channel callbacks set up inside
 * the channel-open callback) would later run JS on koffi's own stack and fail
 * with "RangeError: Maximum call stack size exceeded". Deno has no such
 * limit; it costs about twenty callbacks either way.
 */
export function prepareTrampolines(backend: Backend): void {
  for (const layout of [SERVER_CALLBACKS, CHANNEL_CALLBACKS] as StructLayout<string>[]) {
    for (const [name, entry] of Object.entries(layout.callbacks)) if (entry) nativeFor(backend, name, entry);
  }
  nativeFor(backend, "message", MESSAGE_ENTRY);
}

/**
 * A libssh callback struct in JS memory, pointing at the shared trampolines.
 * Keep it alive (and do not `release()` it) while libssh may call through it.
 */
export class CallbackStruct<Field extends string> {
  readonly #backend: Backend;
  readonly #layout: StructLayout<Field>;
  readonly #cells: BigUint64Array<ArrayBuffer>;
  readonly #id: number;
  /** The struct's address, for `ssh_set_*_callbacks`. */
  readonly pointer: Pointer;

  constructor(backend: Backend, layout: StructLayout<Field>, target: CallbackTarget) {
    this.#backend = backend;
    this.#layout = layout;
    this.#id = nextId++;
    targets.set(this.#id, target);
    this.#cells = new BigUint64Array(HEADER_BYTES / 8 + layout.fields.length);
    this.#cells[0] = BigInt(layout.size);
    this.#cells[1] = BigInt(this.#id);
    this.pointer = backend.pointerOf(this.#cells);
  }

  /** Points field `name` at its trampoline, or clears it (NULL) so libssh skips it. */
  enable(name: Field, enabled: boolean): void {
    const index = this.#layout.fields.indexOf(name);
    const entry = this.#layout.callbacks[name];
    if (index < 0 || !entry) throw new TypeError(`${this.#layout.name} has no settable field ${name}`);
    this.#cells[HEADER_BYTES / 8 + index] = enabled
      ? this.#backend.address(nativeFor(this.#backend, name, entry))
      : 0n;
  }

  /** Forgets the target; call only once libssh can no longer reach the struct. */
  release(): void {
    targets.delete(this.#id);
  }
}

/** A server callbacks struct for `ssh_set_server_callbacks`. */
export function serverCallbackStruct(
  backend: Backend,
  target: CallbackTarget,
): CallbackStruct<ServerCallbackField> {
  return new CallbackStruct(backend, SERVER_CALLBACKS, target);
}

/** A channel callbacks struct for `ssh_add_channel_callbacks`. */
export function channelCallbackStruct(
  backend: Backend,
  target: CallbackTarget,
): CallbackStruct<ChannelCallbackField> {
  return new CallbackStruct(backend, CHANNEL_CALLBACKS, target);
}

/**
 * The message callback for `ssh_set_message_callback`, with its userdata.
 * Call `release()` only once libssh can no longer call it.
 */
export function messageCallback(
  backend: Backend,
  target: CallbackTarget,
): { pointer: Pointer; userdata: Pointer; release(): void } {
  const id = nextId++;
  targets.set(id, target);
  return {
    pointer: nativeFor(backend, "message", MESSAGE_ENTRY),
    userdata: backend.pointerAt(BigInt(id)),
    release: () => targets.delete(id),
  };
}
