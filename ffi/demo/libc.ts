/**
 * The DemoServer's own binding of the C library: its table
 * (`ffi/demo/symbols.ts`) is opened on first use, through whichever backend
 * loaded libssh, and kept for the process.
 *
 * @module
 */

import type { Backend, Bindings } from "../backend.ts";
import { demoLibcSymbols } from "./symbols.ts";

/** The DemoServer's C functions, as typed by `ffi/demo/symbols.ts`. */
export type DemoLibc = Bindings<typeof demoLibcSymbols>;

let bound: DemoLibc | undefined;

/** The DemoServer's C functions, bound on the first call; throws what the runtime's `dlopen` throws. */
export function demoLibc(backend: Backend): DemoLibc {
  return bound ??= backend.bindLibc(demoLibcSymbols);
}
