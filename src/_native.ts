/**
 * The native backend as src/ sees it: loaded on first use, and a failure to
 * load is an `SshError` (ffi/ throws its own `LoadError`, having no access to
 * src/'s error type).
 *
 * @module
 */

import type { Backend } from "../ffi/backend.ts";
import { native as loadBackend } from "../ffi/load.ts";
import { LoadError } from "../ffi/load_error.ts";
import { SshError } from "./errors.ts";

let backend: Backend | undefined;

/** The loaded backend; throws `SshError` `"library-not-found"` or `"unsupported-version"` when libssh is unusable. */
export function native(): Backend {
  return backend ?? load();
}

function load(): Backend {
  try {
    backend = loadBackend();
  } catch (error) {
    if (error instanceof LoadError) throw new SshError(error.code, error.message, { cause: error.cause });
    throw error;
  }
  return backend;
}
