/**
 * libssh for TypeScript: SSH servers (and keys) on the system libssh, through
 * FFI, for Deno and Node.
 *
 * @example Generate a host key
 * ```ts
 * import { SshKey } from "@libssh/libssh";
 *
 * using hostKey = SshKey.generate("ed25519");
 * console.log(hostKey.fingerprint());
 * ```
 *
 * @module
 */

export { SshError, type SshErrorCode } from "./src/errors.ts";
export {
  type FingerprintHash,
  type GeneratedKeyType,
  type GenerateOptions,
  type KeyType,
  type PassphraseOptions,
  SshKey,
} from "./src/key.ts";
