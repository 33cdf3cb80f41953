/**
 * C strings and out-parameters as JS buffers: the encodings every caller of a
 * `buffer` parameter needs.
 *
 * @module
 */

import type { Backend, Pointer } from "./backend.ts";

const encoder = new TextEncoder();

/** Encodes `text` as a NUL-terminated UTF-8 buffer; throws TypeError on embedded NUL. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  if (text.includes("\0")) throw new TypeError("string must not contain NUL characters");
  const bytes = new Uint8Array(encoder.encode(text).length + 1);
  encoder.encodeInto(text, bytes);
  return bytes;
}

/** Encodes an optional string; `undefined` becomes C's NULL. */
export function optionalCString(text: string | undefined): Uint8Array<ArrayBuffer> | null {
  return text === undefined ? null : cString(text);
}

/** A cell for one `T **` out-parameter. */
export class PointerCell {
  readonly buffer: BigUint64Array<ArrayBuffer> = new BigUint64Array(1);

  /** The pointer that native code stored in the cell. */
  get(backend: Backend): Pointer {
    return backend.pointerAt(this.buffer[0]);
  }
}

/**
 * Packs strings into a `const char **` array. Keep the returned object alive
 * for as long as native code may read the array.
 */
export function cStringArray(backend: Backend, texts: readonly string[]): {
  array: BigUint64Array<ArrayBuffer>;
  strings: Uint8Array<ArrayBuffer>[];
} {
  const strings = texts.map(cString);
  const array = new BigUint64Array(strings.length);
  strings.forEach((s, i) => array[i] = backend.address(backend.pointerOf(s)));
  return { array, strings };
}
