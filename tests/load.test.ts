import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DENO, evalModule, moduleUrl, run } from "./support/clients.ts";

// Loading libssh fails in a few typical ways; each message must name its fix.

/** A script that loads libssh (through `SshKey.generate`) and prints the error it gets, if any. */
const LOAD_SCRIPT = `import { SshKey } from ${
  JSON.stringify(moduleUrl(new URL("../mod", import.meta.url)).href)
};
try { SshKey.generate("ed25519"); console.log("loaded"); } catch (e) { console.log(e.name, e.code, e.message); }`;

test("LIBSSH_PATH=/nonexistent names the file and why it failed, and the apt package", async () => {
  const result = await evalModule(LOAD_SCRIPT, { env: { LIBSSH_PATH: "/nonexistent/libssh.so" } });
  assert.match(
    result.stdout,
    /^SshError library-not-found .*LIBSSH_PATH=\/nonexistent\/libssh\.so \(.*cannot open shared object file.*\).*apt-get install libssh-4/,
  );
  assert.doesNotMatch(result.stdout, /set LIBSSH_PATH/, "it is set already");
});

test("Deno without --allow-ffi: the message says to run with --allow-ffi (or -A)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "libssh-load-"));
  try {
    const script = join(dir, "load.js");
    writeFileSync(script, LOAD_SCRIPT);
    const result = await run(DENO, ["run", "--allow-env", "--allow-read", script]);
    assert.match(
      result.stdout,
      /^SshError library-not-found .*run deno with --allow-ffi \(or -A\)/,
      result.stderr,
    );
    assert.doesNotMatch(
      result.stdout,
      /apt-get|LIBSSH_PATH/,
      "libssh is installed: only the flag is missing",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
