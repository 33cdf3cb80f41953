/**
 * `npm run demo` / `deno task demo`: shows the binding at work on this machine.
 * (The DemoServer CLI replaces this once it lands.)
 *
 * @module
 */

import { SshKey } from "../mod.ts";
import { libsshVersion } from "../ffi/load.ts";

console.log(`libssh ${libsshVersion()}`);
using key = SshKey.generate("ed25519");
console.log(`generated an ed25519 key: ${key.fingerprint()}`);
console.log(key.toPublicKeyString("libssh-demo"));
