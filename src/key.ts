/**
 * SSH keys (libssh's PKI): generate, import, export, fingerprint, compare.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import type { Pointer } from "../ffi/backend.ts";
import {
  SSH_KEY_CMP_PUBLIC,
  SSH_KEYTYPE_ECDSA_P256,
  SSH_KEYTYPE_ECDSA_P256_CERT01,
  SSH_KEYTYPE_ECDSA_P384,
  SSH_KEYTYPE_ECDSA_P384_CERT01,
  SSH_KEYTYPE_ECDSA_P521,
  SSH_KEYTYPE_ECDSA_P521_CERT01,
  SSH_KEYTYPE_ED25519,
  SSH_KEYTYPE_ED25519_CERT01,
  SSH_KEYTYPE_RSA,
  SSH_KEYTYPE_RSA_CERT01,
  SSH_KEYTYPE_SK_ECDSA,
  SSH_KEYTYPE_SK_ED25519,
  SSH_KEYTYPE_UNKNOWN,
  SSH_OK,
  SSH_PUBLICKEY_HASH_MD5,
  SSH_PUBLICKEY_HASH_SHA1,
  SSH_PUBLICKEY_HASH_SHA256,
} from "../ffi/constants.ts";
import { cString, PointerCell } from "../ffi/cstring.ts";
import { native } from "./_native.ts";
import { normalizeOpenSshPrivateKey } from "./openssh_private_key.ts";
import { closedError, fileError, SshError } from "./errors.ts";

/** The key types `SshKey.generate` can make. */
export type GeneratedKeyType = "ed25519" | "rsa" | "ecdsa-p256" | "ecdsa-p384" | "ecdsa-p521";

/**
 * A key's type: one of the generated types, a FIDO security-key type, a
 * certificate, or `"unknown"`.
 */
export type KeyType = GeneratedKeyType | "sk-ed25519" | "sk-ecdsa" | "certificate" | "unknown";

/** The hash of a fingerprint, named as `ssh-keygen -E` names it. */
export type FingerprintHash = "sha256" | "sha1" | "md5";

const GENERATED_TYPES: Record<GeneratedKeyType, number> = {
  "ed25519": SSH_KEYTYPE_ED25519,
  "rsa": SSH_KEYTYPE_RSA,
  "ecdsa-p256": SSH_KEYTYPE_ECDSA_P256,
  "ecdsa-p384": SSH_KEYTYPE_ECDSA_P384,
  "ecdsa-p521": SSH_KEYTYPE_ECDSA_P521,
};

const TYPE_NAMES = new Map<number, KeyType>([
  ...Object.entries(GENERATED_TYPES).map(([name, value]) => [value, name as KeyType] as const),
  [SSH_KEYTYPE_SK_ED25519, "sk-ed25519"],
  [SSH_KEYTYPE_SK_ECDSA, "sk-ecdsa"],
  [SSH_KEYTYPE_RSA_CERT01, "certificate"],
  [SSH_KEYTYPE_ED25519_CERT01, "certificate"],
  [SSH_KEYTYPE_ECDSA_P256_CERT01, "certificate"],
  [SSH_KEYTYPE_ECDSA_P384_CERT01, "certificate"],
  [SSH_KEYTYPE_ECDSA_P521_CERT01, "certificate"],
]);

const HASHES: Record<FingerprintHash, number> = {
  sha256: SSH_PUBLICKEY_HASH_SHA256,
  sha1: SSH_PUBLICKEY_HASH_SHA1,
  md5: SSH_PUBLICKEY_HASH_MD5,
};

const RSA_BITS = { min: 1024, max: 16384, default: 3072 } as const;

/** Options of `SshKey.generate`. */
export interface GenerateOptions {
  /** RSA modulus size in bits (1024 to 16384, default 3072). Ignored by the other types. */
  bits?: number;
}

/** Options of the private key readers and writer. */
export interface PassphraseOptions {
  /** The passphrase that encrypts the key. */
  passphrase?: string;
}

let adoptKey: (handle: Pointer, comment?: string) => SshKey;
let borrowHandle: (key: SshKey) => Pointer;

let liveHandles = 0;
const finalizer = new FinalizationRegistry<bigint>((address) => {
  const backend = native();
  backend.libssh.ssh_key_free(backend.pointerAt(address));
  liveHandles--;
});

/** Number of native key handles not yet freed (for leak tests). */
export function liveKeyHandles(): number {
  return liveHandles;
}

function looksEncrypted(text: string): boolean {
  if (/Proc-Type:\s*4,ENCRYPTED|BEGIN ENCRYPTED PRIVATE KEY/.test(text)) return true;
  const match = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text);
  if (!match) return false;
  try {
    // "openssh-key-v1\0", then the cipher name as an SSH string.
    const blob = atob(match[1].replace(/\s+/g, ""));
    if (!blob.startsWith("openssh-key-v1\0") || blob.length < 19) return false;
    const length = (blob.charCodeAt(15) << 24) | (blob.charCodeAt(16) << 16) |
      (blob.charCodeAt(17) << 8) | blob.charCodeAt(18);
    return blob.slice(19, 19 + length) !== "none";
  } catch {
    return false;
  }
}

/** Reads the algorithm name at the start of a public key blob. */
function blobAlgorithm(base64: string): string | undefined {
  let blob: string;
  try {
    blob = atob(base64);
  } catch {
    return undefined;
  }
  if (blob.length < 4) return undefined;
  const length = ((blob.charCodeAt(0) << 24) | (blob.charCodeAt(1) << 16) |
    (blob.charCodeAt(2) << 8) | blob.charCodeAt(3)) >>> 0;
  if (length === 0 || length > 64 || blob.length < 4 + length) return undefined;
  return blob.slice(4, 4 + length);
}

function readKeyFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw fileError(`key file ${path}`, e);
  }
}

/**
 * An SSH key, public or private, owning a libssh `ssh_key`.
 *
 * Keys hold only memory: release them with `close()` or `using`; a key that
 * is dropped without `close()` is freed by the garbage collector.
 *
 * @example Generate a key and print its public form
 * ```ts
 * import { SshKey } from "@libssh/libssh";
 *
 * using key = SshKey.generate("ed25519");
 * console.log(key.toPublicKeyString("me@example"));
 * console.log(key.fingerprint()); // SHA256:...
 * ```
 */
export class SshKey {
  #handle: Pointer;
  #address: bigint;
  #comment: string | undefined;

  private constructor(handle: Pointer, comment?: string) {
    const backend = native();
    this.#handle = handle;
    this.#address = backend.address(handle);
    this.#comment = comment;
    liveHandles++;
    finalizer.register(this, this.#address, this);
  }

  static {
    adoptKey = (handle, comment) => new SshKey(handle, comment);
    borrowHandle = (key) => key.#live();
  }

  /**
   * Generates a new private key.
   *
   * @example
   * ```ts
   * import { SshKey } from "@libssh/libssh";
   *
   * using rsa = SshKey.generate("rsa", { bits: 2048 });
   * console.log(rsa.type); // "rsa"
   * ```
   */
  static generate(type: GeneratedKeyType, options?: GenerateOptions): SshKey {
    options ??= {};
    const keyType = GENERATED_TYPES[type];
    if (keyType === undefined) {
      throw new TypeError(
        `unknown key type ${JSON.stringify(type)}; use one of ${Object.keys(GENERATED_TYPES)}`,
      );
    }
    let bits = 0;
    if (type === "rsa") {
      bits = options.bits ?? RSA_BITS.default;
      if (!Number.isInteger(bits) || bits < RSA_BITS.min || bits > RSA_BITS.max || bits % 8 !== 0) {
        throw new RangeError(`RSA bits must be a multiple of 8 from ${RSA_BITS.min} to ${RSA_BITS.max}`);
      }
    }
    const backend = native();
    const out = new PointerCell();
    if (backend.libssh.ssh_pki_generate(keyType, bits, out.buffer) !== SSH_OK) {
      throw new SshError("libssh", `generating a ${type} key failed`);
    }
    return new SshKey(out.get(backend));
  }

  /**
   * Reads a private key in OpenSSH (`-----BEGIN OPENSSH PRIVATE KEY-----`) or
   * PEM format. Throws `SshError` `"invalid-key"` for text that is no key and
   * `"wrong-passphrase"` when the key is encrypted and the passphrase is
   * missing or wrong.
   *
   * @example
   * ```ts
   * import { SshKey } from "@libssh/libssh";
   *
   * const text = SshKey.generate("ed25519").toPrivateKeyString({ passphrase: "s3cret" });
   * using key = SshKey.fromPrivateKey(text, { passphrase: "s3cret" });
   * console.log(key.isPrivate); // true
   * ```
   */
  static fromPrivateKey(text: string, options?: PassphraseOptions): SshKey {
    options ??= {};
    if (typeof text !== "string") throw new TypeError("private key text must be a string");
    const backend = native();
    const out = new PointerCell();
    // An empty passphrase, never NULL: with NULL, OpenSSL would prompt on the terminal.
    const rc = backend.libssh.ssh_pki_import_privkey_base64(
      cString(text.trim()),
      cString(options.passphrase ?? ""),
      null,
      null,
      out.buffer,
    );
    if (rc !== SSH_OK) {
      if (looksEncrypted(text)) {
        throw new SshError(
          "wrong-passphrase",
          options.passphrase === undefined
            ? "the private key is encrypted: a passphrase is needed"
            : "the passphrase does not decrypt the private key",
        );
      }
      throw new SshError("invalid-key", "the text is not a private key libssh can read");
    }
    return new SshKey(out.get(backend));
  }

  /**
   * Reads a public key: an `authorized_keys` line (`ssh-ed25519 AAAA... comment`,
   * options before the type are skipped) or the bare base64 blob.
   *
   * @example
   * ```ts
   * import { SshKey } from "@libssh/libssh";
   *
   * const line = SshKey.generate("ed25519").toPublicKeyString("ci");
   * using key = SshKey.fromPublicKey(line);
   * console.log(key.comment); // "ci"
   * ```
   */
  static fromPublicKey(text: string): SshKey {
    if (typeof text !== "string") throw new TypeError("public key text must be a string");
    const backend = native();
    const tokens = text.trim().split(/\s+/).filter((t) => t.length > 0);
    let base64: string | undefined;
    let declared: string | undefined;
    let comment: string | undefined;
    const typeIndex = tokens.findIndex((t, i) =>
      i + 1 < tokens.length && backend.libssh.ssh_key_type_from_name(cString(t)) !== SSH_KEYTYPE_UNKNOWN
    );
    if (typeIndex >= 0) {
      declared = tokens[typeIndex];
      base64 = tokens[typeIndex + 1];
      comment = tokens.slice(typeIndex + 2).join(" ") || undefined;
    } else if (tokens.length === 1) {
      base64 = tokens[0];
    }
    const algorithm = base64 === undefined ? undefined : blobAlgorithm(base64);
    if (
      base64 === undefined || algorithm === undefined || (declared !== undefined && declared !== algorithm)
    ) {
      throw new SshError("invalid-key", "the text is not an SSH public key");
    }
    const keyType = backend.libssh.ssh_key_type_from_name(cString(algorithm));
    const out = new PointerCell();
    if (
      keyType === SSH_KEYTYPE_UNKNOWN ||
      backend.libssh.ssh_pki_import_pubkey_base64(cString(base64), keyType, out.buffer) !== SSH_OK
    ) {
      throw new SshError("invalid-key", `the text is not a valid ${algorithm} public key`);
    }
    return new SshKey(out.get(backend), comment);
  }

  /**
   * Reads a key file: a private key (OpenSSH or PEM) or a public key
   * (`id_ed25519.pub`). Throws `SshError` `"io"` when the file cannot be read.
   *
   * @example
   * ```ts
   * import { SshKey } from "@libssh/libssh";
   *
   * const path = Deno.makeTempFileSync();
   * Deno.writeTextFileSync(path, SshKey.generate("ed25519").toPrivateKeyString());
   * using key = SshKey.fromFile(path);
   * console.log(key.type); // "ed25519"
   * ```
   */
  static fromFile(path: string, options?: PassphraseOptions): SshKey {
    const text = readKeyFile(path);
    return /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)
      ? SshKey.fromPrivateKey(text, options)
      : SshKey.fromPublicKey(text);
  }

  #live(): Pointer {
    if (this.#handle === null) throw closedError("SshKey");
    return this.#handle;
  }

  /** Whether the key was closed. */
  get closed(): boolean {
    return this.#handle === null;
  }

  /** The key type, e.g. `"ed25519"` or `"ecdsa-p256"`. */
  get type(): KeyType {
    return TYPE_NAMES.get(native().libssh.ssh_key_type(this.#live())) ?? "unknown";
  }

  /** The SSH algorithm name, e.g. `"ssh-ed25519"`, as in `authorized_keys`. */
  get algorithm(): string {
    const backend = native();
    const name = backend.readCString(
      backend.libssh.ssh_key_type_to_char(backend.libssh.ssh_key_type(this.#live())),
    );
    if (name === null) throw new SshError("invalid-key", "the key has no known algorithm");
    return name;
  }

  /** Whether the key holds its private part. */
  get isPrivate(): boolean {
    return native().libssh.ssh_key_is_private(this.#live()) === 1;
  }

  /** The comment read with the public key line, if any. */
  get comment(): string | undefined {
    this.#live();
    return this.#comment;
  }

  /**
   * The fingerprint exactly as `ssh-keygen -l -E <hash>` prints it, e.g.
   * `SHA256:...` (the default) or `MD5:aa:bb:...`.
   *
   * @example
   * ```ts
   * import { SshKey } from "@libssh/libssh";
   *
   * using key = SshKey.generate("ed25519");
   * console.log(key.fingerprint("md5"));
   * ```
   */
  fingerprint(hash?: FingerprintHash): string {
    const handle = this.#live();
    const hashType = HASHES[hash ?? "sha256"];
    if (hashType === undefined) {
      throw new TypeError(`unknown hash ${JSON.stringify(hash)}; use sha256, sha1 or md5`);
    }
    const backend = native();
    const digest = new PointerCell();
    const length = new BigUint64Array(1);
    if (backend.libssh.ssh_get_publickey_hash(handle, hashType, digest.buffer, length) !== SSH_OK) {
      throw new SshError("libssh", "hashing the public key failed");
    }
    const text = backend.libssh.ssh_get_fingerprint_hash(hashType, digest.get(backend), length[0]);
    backend.libssh.ssh_clean_pubkey_hash(digest.buffer);
    const result = backend.readCString(text);
    backend.libssh.ssh_string_free_char(text);
    if (result === null) throw new SshError("libssh", "formatting the fingerprint failed");
    return result;
  }

  /**
   * The public key as an `authorized_keys` / `known_hosts` entry:
   * `<algorithm> <base64> [comment]`.
   *
   * @example
   * ```ts
   * import { SshKey } from "@libssh/libssh";
   *
   * using key = SshKey.generate("ed25519");
   * await Deno.writeTextFile("/tmp/authorized_keys", key.toPublicKeyString() + "\n");
   * ```
   */
  toPublicKeyString(comment?: string): string {
    const backend = native();
    const out = new PointerCell();
    if (backend.libssh.ssh_pki_export_pubkey_base64(this.#live(), out.buffer) !== SSH_OK) {
      throw new SshError("libssh", "exporting the public key failed");
    }
    const blob = out.get(backend);
    const base64 = backend.readCString(blob);
    backend.libssh.ssh_string_free_char(blob);
    const suffix = comment === undefined ? "" : ` ${comment.replace(/[\r\n]+/g, " ")}`;
    return `${this.algorithm} ${base64}${suffix}`;
  }

  /**
   * The private key as text: OpenSSH format for ed25519, PEM for the other
   * types (what libssh 0.10 writes); encrypted when a passphrase is given.
   *
   * @example
   * ```ts
   * import { SshKey } from "@libssh/libssh";
   *
   * using key = SshKey.generate("ecdsa-p256");
   * Deno.writeTextFileSync("/tmp/host_key", key.toPrivateKeyString(), { mode: 0o600 });
   * ```
   */
  toPrivateKeyString(options?: PassphraseOptions): string {
    const handle = this.#live();
    if (!this.isPrivate) throw new SshError("invalid-key", "a public key has no private key text");
    const backend = native();
    const out = new PointerCell();
    const passphrase = options?.passphrase === undefined ? null : cString(options.passphrase);
    if (backend.libssh.ssh_pki_export_privkey_base64(handle, passphrase, null, null, out.buffer) !== SSH_OK) {
      throw new SshError("libssh", "exporting the private key failed");
    }
    const text = out.get(backend);
    const result = backend.readCString(text) ?? "";
    backend.libssh.ssh_string_free_char(text);
    return normalizeOpenSshPrivateKey(result.endsWith("\n") ? result : `${result}\n`);
  }

  /**
   * A new key holding only the public part (a copy for a public key).
   *
   * @example
   * ```ts
   * import { SshKey } from "@libssh/libssh";
   *
   * using key = SshKey.generate("ed25519");
   * using pub = key.publicKey();
   * console.log(pub.isPrivate, pub.equals(key)); // false true
   * ```
   */
  publicKey(): SshKey {
    const backend = native();
    const out = new PointerCell();
    if (backend.libssh.ssh_pki_export_privkey_to_pubkey(this.#live(), out.buffer) !== SSH_OK) {
      throw new SshError("libssh", "extracting the public key failed");
    }
    return new SshKey(out.get(backend), this.#comment);
  }

  /**
   * Whether both keys have the same public part.
   *
   * @example
   * ```ts
   * import { SshKey } from "@libssh/libssh";
   *
   * using a = SshKey.generate("ed25519");
   * using b = SshKey.fromPublicKey(a.toPublicKeyString());
   * console.log(a.equals(b)); // true
   * ```
   */
  equals(other: SshKey): boolean {
    const handle = this.#live();
    if (!(other instanceof SshKey)) throw new TypeError("equals() takes an SshKey");
    return native().libssh.ssh_key_cmp(handle, other.#live(), SSH_KEY_CMP_PUBLIC) === 0;
  }

  /** Frees the native key. Idempotent; every other method throws `SshError` `"closed"` afterwards. */
  close(): void {
    if (this.#handle === null) return;
    const backend = native();
    finalizer.unregister(this);
    backend.libssh.ssh_key_free(this.#handle);
    liveHandles--;
    this.#handle = null;
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Wraps a native key that the caller owns (and hands over). */
export function keyFromHandle(handle: Pointer): SshKey {
  return adoptKey(handle);
}

/** The native handle of a live key, for `src/` classes that pass keys to libssh. */
export function keyHandle(key: SshKey): Pointer {
  return borrowHandle(key);
}
