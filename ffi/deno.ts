/**
 * The Deno backend: `Deno.dlopen` over the table in `ffi/symbols.ts`.
 *
 * @module
 */

import {
  type Backend,
  type Bindings,
  type CallbackSignature,
  type Libc,
  LIBC_PATH,
  type Libssh,
  type NativeCallback,
  type Pointer,
} from "./backend.ts";
import { type ForeignFunction, libcSymbols, libsshSymbols } from "./symbols.ts";

type DenoPointer = Deno.PointerValue;

const toDeno = (pointer: Pointer): DenoPointer => pointer as unknown as DenoPointer;
const fromDeno = (pointer: DenoPointer): Pointer => pointer as unknown as Pointer;

/** Binds every entry of `table` in the library at `path`; an `optional` symbol it lacks becomes `null`. */
function bindTable<T extends Record<string, ForeignFunction>>(path: string, table: T): Bindings<T> {
  // Deno types "void" as a result only; the table types it as any foreign type.
  const symbols = table as unknown as Parameters<typeof Deno.dlopen>[1];
  return Deno.dlopen(path, symbols).symbols as unknown as Bindings<T>;
}

/** Opens libssh at `libraryPath` and the C library; throws what `Deno.dlopen` throws. */
export function openDenoBackend(libraryPath: string): Backend {
  const libssh: Libssh = bindTable(libraryPath, libsshSymbols);
  const libc: Libc = bindTable(LIBC_PATH, libcSymbols);
  return {
    runtime: "deno",
    arch: Deno.build.arch,
    libraryPath,
    libssh,
    libc,
    readCString(pointer): string | null {
      return pointer === null ? null : Deno.UnsafePointerView.getCString(toDeno(pointer)!);
    },
    readBytes(pointer, length): Uint8Array<ArrayBuffer> {
      // One allocation and one copy (getArrayBuffer + slice made a second, external buffer per call).
      const bytes = new Uint8Array(length);
      if (length > 0) Deno.UnsafePointerView.copyInto(toDeno(pointer)!, bytes);
      return bytes;
    },
    copyInto(pointer, target): void {
      if (target.length > 0) Deno.UnsafePointerView.copyInto(toDeno(pointer)!, target);
    },
    address(pointer): bigint {
      return BigInt(Deno.UnsafePointer.value(toDeno(pointer)));
    },
    pointerAt(address): Pointer {
      return fromDeno(Deno.UnsafePointer.create(address));
    },
    pointerOf(buffer): Pointer {
      return fromDeno(Deno.UnsafePointer.of(buffer));
    },
    bindLibc<T extends Record<string, ForeignFunction>>(table: T): Bindings<T> {
      return bindTable(LIBC_PATH, table);
    },
    createCallback(signature: CallbackSignature, fn): NativeCallback {
      const callback = new Deno.UnsafeCallback(
        signature as Deno.UnsafeCallbackDefinition,
        fn as Deno.UnsafeCallbackFunction,
      );
      return { pointer: fromDeno(callback.pointer), close: () => callback.close() };
    },
  };
}
