/**
 * Finds and loads libssh once per process, for whichever runtime runs us.
 *
 * Set `LIBSSH_PATH` to a library file to skip the search. Failures throw
 * `LoadError`, which src/ reports as an `SshError` of the same code.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import { openDenoBackend } from "./deno.ts";
import { openNodeBackend } from "./node.ts";
import { prepareTrampolines } from "./trampolines.ts";
import { LoadError } from "./load_error.ts";

/** The oldest libssh this binding supports. */
export const MINIMUM_VERSION = { major: 0, minor: 10 } as const;

const CANDIDATES = [
  "libssh.so.4",
  "libssh.so",
  "/usr/lib/x86_64-linux-gnu/libssh.so.4",
  "/usr/lib/aarch64-linux-gnu/libssh.so.4",
  "/usr/lib64/libssh.so.4",
  "/usr/local/lib/libssh.so.4",
  "/opt/homebrew/lib/libssh.4.dylib",
  "/usr/local/lib/libssh.4.dylib",
];

const INSTALL_HINT =
  "install it with `apt-get install libssh-4` (Debian/Ubuntu; `libssh` on Fedora/Homebrew)";

let loaded: Backend | undefined;

function envLibraryPath(): string | undefined {
  const value = globalThis.Deno?.env.get("LIBSSH_PATH") ??
    (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.LIBSSH_PATH;
  return value || undefined;
}

/**
 * Opens `path` with this runtime's backend. Deno is tested first: it also
 * defines `process`. Neither backend touches its runtime before this call.
 */
function open(path: string): Backend {
  if (typeof globalThis.Deno?.dlopen === "function") return openDenoBackend(path);
  const versions = (globalThis as { process?: { versions?: { node?: string } } }).process?.versions;
  if (versions?.node) return openNodeBackend(path);
  throw new LoadError("library-not-found", "no FFI backend for this runtime: Deno 2 or Node 20+ is needed");
}

/** Parses the leading `major.minor.patch` of `ssh_version()`'s text. */
export function parseVersion(text: string): { major: number; minor: number; patch: number } | undefined {
  const match = /^(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]) };
}

/** What to do about an unusable library: install one, or fix the `LIBSSH_PATH` that chose it. */
function remedy(override: string | undefined): string {
  return override
    ? `point LIBSSH_PATH at libssh 0.10 or newer (a libssh.so.4 file), or unset it to use the system's: ${INSTALL_HINT}`
    : `${INSTALL_HINT}, or set LIBSSH_PATH to the library file`;
}

/** Deno refused `dlopen` for lack of `--allow-ffi` (not the OS: that is `PermissionDenied`). */
function isMissingFfiPermission(error: unknown): boolean {
  return (error as Error | undefined)?.name === "NotCapable";
}

function checkVersion(backend: Backend, override: string | undefined): void {
  const text = backend.readCString(backend.libssh.ssh_version(0)) ?? "";
  const version = parseVersion(text);
  const tooOld = !version || version.major < MINIMUM_VERSION.major ||
    (version.major === MINIMUM_VERSION.major && version.minor < MINIMUM_VERSION.minor);
  if (tooOld) {
    throw new LoadError(
      "unsupported-version",
      `libssh ${text || "(unknown version)"} at ${backend.libraryPath} is too old: ` +
        `${MINIMUM_VERSION.major}.${MINIMUM_VERSION.minor} or newer is needed; ${remedy(override)}`,
    );
  }
}

/** Returns the loaded backend, loading libssh on first use. */
export function native(): Backend {
  if (loaded) return loaded;
  const override = envLibraryPath();
  const paths = override ? [override] : CANDIDATES;
  const failures: unknown[] = [];
  for (const path of paths) {
    let backend: Backend;
    try {
      backend = open(path);
    } catch (e) {
      if (e instanceof LoadError) throw e;
      if (isMissingFfiPermission(e)) {
        throw new LoadError(
          "library-not-found",
          "libssh cannot be loaded without FFI access: run deno with --allow-ffi (or -A)",
          { cause: e },
        );
      }
      failures.push(e);
      continue;
    }
    checkVersion(backend, override);
    prepareTrampolines(backend);
    loaded = backend;
    return backend;
  }
  const cause = failures.at(-1);
  const where = override
    ? `LIBSSH_PATH=${override} (${cause instanceof Error ? cause.message : String(cause)})`
    : `any of ${paths.join(", ")}`;
  throw new LoadError("library-not-found", `libssh could not be loaded from ${where}; ${remedy(override)}`, {
    cause,
  });
}

/** The version text of the loaded libssh, e.g. `0.10.6/openssl/zlib`. */
export function libsshVersion(): string {
  const backend = native();
  return backend.readCString(backend.libssh.ssh_version(0)) ?? "";
}
