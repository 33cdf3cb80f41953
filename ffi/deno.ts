/**
 * The Deno backend: `Deno.dlopen` over the table in `ffi/symbols.ts`.
 *
 * @module
 */

import type { Backend, CallbackSignature, Libc, Libssh, NativeCallback, Pointer } from "./backend.ts";
import { libcSymbols, libsshSymbols } from "./symbols.ts";

type DenoPointer = Deno.PointerValue;

const toDeno = (pointer: Pointer): DenoPointer => pointer as unknown as DenoPointer;
const fromDeno = (pointer: DenoPointer): Pointer => pointer as unknown as Pointer;

/** Opens libssh at `libraryPath` and the C library; throws what `Deno.dlopen` throws. */
export function openDenoBackend(libraryPath: string): Backend {
  const libssh = Deno.dlopen(libraryPath, libsshSymbols).symbols as unknown as Libssh;
  const libc = Deno.dlopen("libc.so.6", libcSymbols).symbols as unknown as Libc;
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
    createCallback(signature: CallbackSignature, fn): NativeCallback {
      const callback = new Deno.UnsafeCallback(
        signature as Deno.UnsafeCallbackDefinition,
        fn as Deno.UnsafeCallbackFunction,
      );
      return { pointer: fromDeno(callback.pointer), close: () => callback.close() };
    },
  };
}
