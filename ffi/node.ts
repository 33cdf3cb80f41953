/**
 * The Node backend: koffi over the SAME table as Deno (`ffi/symbols.ts`),
 * whose Deno type names are translated to koffi's when the library is opened.
 *
 * - koffi is required only when this backend is opened, so Deno never needs it.
 * - Pointers are koffi's: a `bigint` address, `null` for NULL.
 * - Only koffi's built-in type names and anonymous prototypes are used: koffi's
 *   type names are process-wide, and this backend declares none.
 * - Callbacks are koffi registered callbacks (at most 8192 may live at once;
 *   `ffi/trampolines.ts` makes one per callback field for the whole process).
 * - `nonblocking` entries run through koffi's async calls on libuv's thread
 *   pool and return a Promise, as `nonblocking` calls do in Deno.
 *
 * @module
 */

import { createRequire } from "node:module";
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
import { type ForeignFunction, libcSymbols, libsshSymbols, type NativeType } from "./symbols.ts";
import { LoadError } from "./load_error.ts";

declare const koffiTypeBrand: unique symbol;

/** A koffi type (made by `koffi.proto`, `koffi.pointer`), opaque here. */
type KoffiType = { readonly [koffiTypeBrand]: true };

/** A foreign function bound by koffi; `async` runs it on libuv's thread pool. */
interface KoffiFunction {
  (...args: unknown[]): unknown;
  async(...argsThenCallback: unknown[]): void;
}

/** A library opened by `koffi.load`. */
interface KoffiLibrary {
  func(name: string, result: string, parameters: string[]): KoffiFunction;
}

/**
 * The part of koffi this backend uses. Declared here rather than imported
 * from koffi's own types, so the module type-checks where koffi is not
 * installed: from Deno, from another folder, a URL or JSR.
 */
interface KoffiModule {
  load(path: string): KoffiLibrary;
  proto(result: string, parameters: string[]): KoffiType;
  pointer(type: KoffiType): KoffiType;
  register(callback: (...args: never[]) => unknown, type: KoffiType): bigint;
  unregister(callback: bigint): void;
  address(buffer: ArrayBufferView): bigint;
  view(pointer: bigint | null, length: number): ArrayBuffer;
  decode: { string(pointer: bigint | null): string };
}

/** Each Deno type name as the koffi type of the same C size and signedness. */
const KOFFI_TYPES: Record<NativeType, string> = {
  void: "void",
  bool: "bool",
  i8: "int8_t",
  u8: "uint8_t",
  i16: "int16_t",
  u16: "uint16_t",
  i32: "int32_t",
  u32: "uint32_t",
  i64: "int64_t",
  u64: "uint64_t",
  isize: "intptr_t",
  usize: "size_t",
  f64: "double",
  // A bigint, null, or a typed array / ArrayBuffer, whose memory koffi passes as is (no copy).
  pointer: "void *",
  buffer: "void *",
  function: "void *",
};

/** Node's architecture names as Deno spells them. */
const NODE_ARCHES: Record<string, string> = { x64: "x86_64", arm64: "aarch64" };

const toKoffi = (pointer: Pointer): bigint | null => pointer as unknown as bigint | null;
const fromKoffi = (pointer: bigint | null): Pointer => pointer as unknown as Pointer;

let koffiModule: KoffiModule | undefined;
/** How many JS callbacks native code is running right now (they nest: JS → C → JS → …). */
let callbackDepth = 0;

function loadKoffi(): KoffiModule {
  if (koffiModule) return koffiModule;
  try {
    koffiModule = createRequire(import.meta.url)("koffi") as KoffiModule;
  } catch (cause) {
    throw new LoadError(
      "library-not-found",
      "the Node backend needs the npm package koffi (a dependency of this package): npm install koffi",
      { cause },
    );
  }
  return koffiModule;
}

/** Binds every entry of `table`; an `optional` symbol missing from the library becomes `null`. */
function bindTable<T extends Record<string, ForeignFunction>>(
  library: KoffiLibrary,
  table: T,
): Bindings<T> {
  const bindings: Record<string, unknown> = {};
  for (const [key, entry] of Object.entries(table) as [string, ForeignFunction][]) {
    let fn: KoffiFunction;
    try {
      fn = library.func(
        entry.name ?? key,
        KOFFI_TYPES[entry.result],
        entry.parameters.map((type) => KOFFI_TYPES[type]),
      );
    } catch (error) {
      if (entry.optional) {
        bindings[key] = null;
        continue;
      }
      throw error;
    }
    bindings[key] = entry.nonblocking
      ? (...args: unknown[]): Promise<unknown> =>
        new Promise((resolve, reject) =>
          fn.async(...args, (error: unknown, result: unknown) => error ? reject(error) : resolve(result))
        )
      : fn;
  }
  return bindings as Bindings<T>;
}

/** Opens libssh at `libraryPath` and the C library with koffi; throws what `koffi.load` throws. */
export function openNodeBackend(libraryPath: string): Backend {
  const koffi = loadKoffi();
  const libssh = bindTable(koffi.load(libraryPath), libsshSymbols) as unknown as Libssh;
  const libc = bindTable(koffi.load(LIBC_PATH), libcSymbols) as unknown as Libc;
  // One anonymous prototype per distinct C signature.
  const prototypes = new Map<string, KoffiType>();
  const prototypeOf = (signature: CallbackSignature): KoffiType => {
    const key = `${signature.result}(${signature.parameters.join(",")})`;
    let type = prototypes.get(key);
    if (!type) {
      const proto = koffi.proto(
        KOFFI_TYPES[signature.result],
        signature.parameters.map((t) => KOFFI_TYPES[t]),
      );
      type = koffi.pointer(proto);
      prototypes.set(key, type);
    }
    return type;
  };
  return {
    runtime: "node",
    arch: NODE_ARCHES[process.arch] ?? process.arch,
    libraryPath,
    libssh,
    libc,
    readCString(pointer): string | null {
      return pointer === null ? null : koffi.decode.string(toKoffi(pointer));
    },
    readBytes(pointer, length): Uint8Array<ArrayBuffer> {
      if (length === 0) return new Uint8Array(0);
      return new Uint8Array(koffi.view(toKoffi(pointer), length).slice(0));
    },
    copyInto(pointer, target): void {
      if (target.length > 0) target.set(new Uint8Array(koffi.view(toKoffi(pointer), target.length)));
    },
    address(pointer): bigint {
      return toKoffi(pointer) ?? 0n;
    },
    pointerAt(address): Pointer {
      return fromKoffi(address === 0n ? null : address);
    },
    pointerOf(buffer): Pointer {
      const address = koffi.address(buffer);
      return fromKoffi(address === 0n ? null : address);
    },
    bindLibc<T extends Record<string, ForeignFunction>>(table: T): Bindings<T> {
      return bindTable(koffi.load(LIBC_PATH), table);
    },
    createCallback(signature: CallbackSignature, fn): NativeCallback {
      if (callbackDepth > 0) {
        // koffi 3.3.4 would later run such a callback on its own stack: RangeError in V8.
        throw new Error(
          "koffi callbacks must not be registered while native code calls JS; make them beforehand",
        );
      }
      const counted = (...args: unknown[]): ReturnType<typeof fn> => {
        callbackDepth++;
        try {
          return fn(...args);
        } finally {
          callbackDepth--;
        }
      };
      const pointer = koffi.register(counted, prototypeOf(signature));
      let open = true;
      return {
        pointer: fromKoffi(pointer),
        close: () => {
          if (!open) return;
          open = false;
          koffi.unregister(pointer);
        },
      };
    },
  };
}
