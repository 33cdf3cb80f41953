import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SshError, SshKey } from "../mod.ts";
import { liveKeyHandles } from "../src/key.ts";

const GENERATED = ["ed25519", "rsa", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521"] as const;
const KEYGEN_TYPES = [
  { args: ["-t", "ed25519"], type: "ed25519" },
  { args: ["-t", "rsa", "-b", "2048"], type: "rsa" },
  { args: ["-t", "ecdsa", "-b", "256"], type: "ecdsa-p256" },
  { args: ["-t", "ecdsa", "-b", "521"], type: "ecdsa-p521" },
] as const;

function tempDir(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), "libssh-key-test-"));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

/** `ssh-keygen -l -E hash -f file` → the fingerprint field. */
function keygenFingerprint(file: string, hash = "sha256"): string {
  return execFileSync("ssh-keygen", ["-l", "-E", hash, "-f", file], { encoding: "utf8" }).split(" ")[1];
}

function assertSshError(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof SshError && e.code === code, `expected SshError ${code}`);
}

test("keys we generate are read by ssh-keygen with our fingerprints", () => {
  using tmp = tempDir();
  for (const type of GENERATED) {
    using key = SshKey.generate(type, type === "rsa" ? { bits: 2048 } : {});
    assert.equal(key.type, type);
    assert.equal(key.isPrivate, true);
    const pubFile = join(tmp.dir, `${type}.pub`);
    writeFileSync(pubFile, key.toPublicKeyString("test@example") + "\n");
    for (const hash of ["sha256", "sha1", "md5"] as const) {
      assert.equal(keygenFingerprint(pubFile, hash), key.fingerprint(hash), `${type} ${hash}`);
    }
    const privFile = join(tmp.dir, type);
    writeFileSync(privFile, key.toPrivateKeyString(), { mode: 0o600 });
    const derived = execFileSync("ssh-keygen", ["-y", "-f", privFile], { encoding: "utf8" }).trim();
    assert.equal(derived.split(" ").slice(0, 2).join(" "), key.toPublicKeyString());
  }
});

test("encrypted private keys we write are decrypted by ssh-keygen", () => {
  using tmp = tempDir();
  for (const type of ["ed25519", "ecdsa-p256"] as const) {
    using key = SshKey.generate(type);
    const file = join(tmp.dir, type);
    writeFileSync(file, key.toPrivateKeyString({ passphrase: "hunter2" }), { mode: 0o600 });
    const derived = execFileSync("ssh-keygen", ["-y", "-P", "hunter2", "-f", file], { encoding: "utf8" });
    assert.equal(derived.trim().split(" ").slice(0, 2).join(" "), key.toPublicKeyString());
    const wrong = spawnSync("ssh-keygen", ["-y", "-P", "nope", "-f", file], { encoding: "utf8" });
    assert.notEqual(wrong.status, 0);
  }
});

test("private keys we write are read by asyncssh (all types) and paramiko (ed25519), plain and encrypted", () => {
  using tmp = tempDir();
  const files: string[] = [];
  for (const type of GENERATED) {
    using key = SshKey.generate(type, type === "rsa" ? { bits: 2048 } : {});
    for (const passphrase of [undefined, "hunter2"]) {
      const file = join(tmp.dir, `${type}-${passphrase ?? "plain"}`);
      writeFileSync(file, key.toPrivateKeyString({ passphrase }), { mode: 0o600 });
      files.push(`${file}=${passphrase ?? ""}=${key.toPublicKeyString().split(" ")[1]}`);
    }
  }
  const script = `
import sys, warnings
warnings.simplefilter("ignore")
import asyncssh, paramiko
for spec in sys.argv[1:]:
    path, passphrase, blob = spec.split("=", 2)
    a = asyncssh.read_private_key(path, passphrase or None)
    name = path.rsplit("/", 1)[1]
    # paramiko 2 reads OpenSSH and traditional PEM, not the PKCS#8 PEM libssh 0.10 writes for RSA/ECDSA.
    p = paramiko.Ed25519Key.from_private_key_file(path, passphrase or None) if name.startswith("ed25519") else None
    ok = a.export_public_key("openssh").split()[1].decode() == blob and (p is None or p.get_base64() == blob)
    print(name, "ok" if ok else "MISMATCH")`;
  const result = spawnSync("/usr/bin/python3", ["-c", script, ...files], { encoding: "utf8" });
  const expected = files.map((spec) => `${spec.split("=")[0].split("/").at(-1)} ok`).join("\n") + "\n";
  assert.equal(result.stdout, expected, result.stderr);
});

test("keys ssh-keygen generates load, with and without passphrase, with its fingerprint", () => {
  using tmp = tempDir();
  for (const { args, type } of KEYGEN_TYPES) {
    for (const passphrase of ["", "correct horse"]) {
      const file = join(tmp.dir, `${type}-${passphrase.length}`);
      execFileSync("ssh-keygen", [...args, "-q", "-N", passphrase, "-C", "from-keygen", "-f", file]);
      const options = passphrase ? { passphrase } : {};
      using priv = SshKey.fromFile(file, options);
      using fromText = SshKey.fromPrivateKey(readFileSync(file, "utf8"), options);
      using pub = SshKey.fromFile(`${file}.pub`);
      assert.equal(priv.type, type);
      assert.equal(priv.isPrivate, true);
      assert.equal(pub.isPrivate, false);
      assert.equal(pub.comment, "from-keygen");
      assert.ok(priv.equals(pub) && fromText.equals(pub));
      assert.equal(priv.fingerprint(), keygenFingerprint(`${file}.pub`));
      assert.equal(pub.fingerprint("md5"), keygenFingerprint(`${file}.pub`, "md5"));
      if (passphrase) {
        assertSshError(() => SshKey.fromFile(file), "wrong-passphrase");
        assertSshError(() => SshKey.fromFile(file, { passphrase: "wrong" }), "wrong-passphrase");
      }
    }
  }
});

test("PEM private keys written by ssh-keygen load", () => {
  using tmp = tempDir();
  const file = join(tmp.dir, "pem");
  execFileSync("ssh-keygen", ["-t", "rsa", "-b", "2048", "-m", "PEM", "-q", "-N", "", "-f", file]);
  assert.match(readFileSync(file, "utf8"), /BEGIN RSA PRIVATE KEY/);
  using key = SshKey.fromFile(file);
  assert.equal(key.fingerprint(), keygenFingerprint(`${file}.pub`));
});

test("public keys: authorized_keys lines with options, bare blobs, round trips", () => {
  using key = SshKey.generate("ed25519");
  const line = key.toPublicKeyString("a comment with spaces");
  using parsed = SshKey.fromPublicKey(line);
  assert.equal(parsed.comment, "a comment with spaces");
  assert.ok(parsed.equals(key));
  using withOptions = SshKey.fromPublicKey(`no-pty,command="echo hi" ${line}`);
  assert.ok(withOptions.equals(key));
  using bare = SshKey.fromPublicKey(line.split(" ")[1]);
  assert.ok(bare.equals(key));
  using pub = key.publicKey();
  assert.equal(pub.isPrivate, false);
  assert.equal(pub.toPublicKeyString(), key.toPublicKeyString());
  assertSshError(() => pub.toPrivateKeyString(), "invalid-key");
  using other = SshKey.generate("ed25519");
  assert.equal(other.equals(key), false);
});

test("bad key input gives the documented errors, never a crash", () => {
  using key = SshKey.generate("ed25519");
  const privateText = key.toPrivateKeyString();
  const publicLine = key.toPublicKeyString();
  const badPrivate = [
    "",
    "garbage",
    "-----BEGIN OPENSSH PRIVATE KEY-----\n-----END OPENSSH PRIVATE KEY-----\n",
    privateText.slice(0, privateText.length / 2),
    privateText.replace(/[A-Za-z]{8}/, "AAAAAAAA"),
    "\u0000\u0001\u0002binary",
  ];
  for (const text of badPrivate) {
    assert.throws(() => SshKey.fromPrivateKey(text), (e: unknown) => {
      return (e instanceof SshError && e.code === "invalid-key") || e instanceof TypeError;
    }, JSON.stringify(text.slice(0, 40)));
  }
  const badPublic = [
    "",
    "garbage",
    "ssh-ed25519",
    publicLine.slice(0, 40),
    "ssh-rsa " + publicLine.split(" ")[1],
  ];
  for (const text of badPublic) assertSshError(() => SshKey.fromPublicKey(text), "invalid-key");
  assertSshError(() => SshKey.fromFile("/nonexistent/key"), "io");
  assert.throws(() => SshKey.generate("dsa" as "rsa"), TypeError);
  assert.throws(() => SshKey.generate("rsa", { bits: 100 }), RangeError);
  assert.throws(() => key.fingerprint("sha512" as "sha256"), TypeError);
});

test("use after close throws SshError closed; close is idempotent", () => {
  const key = SshKey.generate("ed25519");
  const other = SshKey.generate("ed25519");
  key.close();
  key.close();
  assert.equal(key.closed, true);
  const uses: (() => unknown)[] = [
    () => key.type,
    () => key.algorithm,
    () => key.isPrivate,
    () => key.comment,
    () => key.fingerprint(),
    () => key.toPublicKeyString(),
    () => key.toPrivateKeyString(),
    () => key.publicKey(),
    () => key.equals(other),
    () => other.equals(key),
  ];
  for (const use of uses) assertSshError(use, "closed");
  other.close();
});

test("10,000 keys dropped without close are freed by the garbage collector", async () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  assert.ok(gc, "run the tests with --expose-gc (deno: --v8-flags=--expose-gc)");
  const before = liveKeyHandles();
  for (let i = 0; i < 10_000; i++) SshKey.generate("ed25519");
  const afterLoop = liveKeyHandles();
  assert.ok(afterLoop > before, "handles are counted");
  for (let round = 0; round < 20 && liveKeyHandles() > before + 100; round++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.ok(
    liveKeyHandles() <= before + 100,
    `live handles after GC: ${liveKeyHandles()} (before ${before}, after loop ${afterLoop})`,
  );
});
