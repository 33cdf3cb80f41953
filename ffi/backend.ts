/**
 * The small interface `src/` uses to reach native code, whatever the runtime.
 * `ffi/deno.ts` implements it with `Deno.dlopen`, `ffi/node.ts` with koffi;
 * both are built from the one table in `ffi/symbols.ts` (and bind the
 * DemoServer's, `ffi/demo/symbols.ts`, the same way on request).
 *
 * @module
 */

import type { ForeignFunction, libcSymbols, libsshSymbols, NativeType } from "./symbols.ts";

declare const pointerBrand: unique symbol;

/** An opaque native address (`null` is C's NULL). Only `ffi/` looks inside. */
export type Pointer = { readonly [pointerBrand]: true } | null;

/** A typed array or `ArrayBuffer` passed to a `buffer` parameter. */
export type Bytes = ArrayBufferView<ArrayBuffer> | ArrayBuffer;

/** The JS value accepted for a parameter of foreign type `T`. */
export type ParamValue<T extends NativeType> = T extends "pointer" | "function" ? Pointer
  : T extends "buffer" ? Bytes | null
  : T extends "i64" | "u64" | "isize" | "usize" ? number | bigint
  : T extends "bool" ? boolean
  : T extends "void" ? never
  : number;

/** The JS value returned for a result of foreign type `T`. */
export type ResultValue<T extends NativeType> = T extends "pointer" | "function" | "buffer" ? Pointer
  : T extends "i64" | "u64" | "isize" | "usize" ? number | bigint
  : T extends "bool" ? boolean
  : T extends "void" ? void
  : number;

type Params<P extends readonly NativeType[]> = { [I in keyof P]: ParamValue<P[I]> };

/** The callable binding of one table entry. */
export type Binding<F extends ForeignFunction> = (
  ...args: Params<F["parameters"]>
) => F extends { nonblocking: true } ? Promise<ResultValue<F["result"]>> : ResultValue<F["result"]>;

/** The callable bindings of a whole table. */
export type Bindings<T extends Record<string, ForeignFunction>> = { [K in keyof T]: Binding<T[K]> };

/** libssh's functions, as typed by `ffi/symbols.ts`. */
export type Libssh = Bindings<typeof libsshSymbols>;
/** The C library's functions, as typed by `ffi/symbols.ts`. */
export type Libc = Bindings<typeof libcSymbols>;

/** The file the C library is opened from (glibc). */
export const LIBC_PATH = "libc.so.6";

/** The C signature of a function pointer that native code calls back. */
export interface CallbackSignature {
  readonly parameters: readonly NativeType[];
  readonly result: NativeType;
}

/** A native function pointer that calls a JS function; valid until `close()`. */
export interface NativeCallback {
  readonly pointer: Pointer;
  close(): void;
}

/** What each runtime's backend provides. */
export interface Backend {
  /** Which runtime this backend serves. */
  readonly runtime: "deno" | "node";
  /** The CPU architecture, as Deno names it (`"x86_64"`, `"aarch64"`): some struct layouts differ. */
  readonly arch: string;
  /** The file the library was loaded from. */
  readonly libraryPath: string;
  readonly libssh: Libssh;
  readonly libc: Libc;
  /** Reads a NUL-terminated UTF-8 string; `null` for NULL. */
  readCString(pointer: Pointer): string | null;
  /** Copies `length` bytes starting at `pointer`. */
  readBytes(pointer: Pointer, length: number): Uint8Array<ArrayBuffer>;
  /** Copies `target.length` bytes starting at `pointer` into `target`. */
  copyInto(pointer: Pointer, target: Uint8Array<ArrayBuffer>): void;
  /** The numeric address of a pointer (0n for NULL): a key for registries. */
  address(pointer: Pointer): bigint;
  /** The pointer at a numeric address (NULL for 0n). */
  pointerAt(address: bigint): Pointer;
  /** The address of a JS buffer's memory; the caller keeps the buffer alive. */
  pointerOf(buffer: ArrayBufferView<ArrayBuffer>): Pointer;
  /**
   * Opens the C library once more with another table in the same format
   * (the DemoServer's, `ffi/demo/symbols.ts`), so that `libc` binds only what
   * the library itself calls. Throws what the runtime's `dlopen` throws.
   */
  bindLibc<T extends Record<string, ForeignFunction>>(table: T): Bindings<T>;
  /** Makes a native function pointer for `fn` with the given C signature. */
  createCallback(
    signature: CallbackSignature,
    // deno-lint-ignore no-explicit-any
    fn: (...args: any[]) => number | bigint | Pointer | void,
  ): NativeCallback;
}
