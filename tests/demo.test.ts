import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DemoServer } from "../src/demo/mod.ts";
import { SshKey } from "../mod.ts";
import {
  python,
  run,
  runScript,
  scriptCommand,
  ssh2,
  SSH_OPTIONS,
  sshWithKey,
  sshWithPassword,
} from "./support/clients.ts";

function tempDir(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), "libssh-demo-test-"));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

const sha256 = (data: Uint8Array | string): string => createHash("sha256").update(data).digest("hex");

test("password auth checks only the password; wrong ones are rejected", async () => {
  await using ds = await DemoServer.start({ password: "s3cret" });
  assert.equal((await sshWithPassword(ds.port, "s3cret", "echo ok")).stdout, "ok\n");
  assert.notEqual((await sshWithPassword(ds.port, "foo", "echo no")).code, 0);
  const other = await ssh2({
    port: ds.port,
    username: "anyone",
    password: "s3cret",
    command: "echo $USER-ok",
  });
  assert.equal(other.ok, true);
  assert.deepEqual(ds.clients.filter((c) => c.authMethod === "password").map((c) => c.user), [
    "tester",
    "anyone",
  ]);
  const passwordEntries = JSON.stringify(ds.timeline);
  assert.ok(!passwordEntries.includes("s3cret"), "the timeline must not contain the password");
});

test("keyboard-interactive: Password then Token, answers password and bar", async () => {
  await using ds = await DemoServer.start();
  assert.equal(
    (await ssh2({ port: ds.port, kbdAnswers: ["foo", "bar"], command: "echo kbd" })).stdout,
    "kbd\n",
  );
  assert.equal((await ssh2({ port: ds.port, kbdAnswers: ["foo", "baz"], command: "echo no" })).ok, false);
  const script = `
import sys, paramiko
t = paramiko.Transport(("127.0.0.1", int(sys.argv[1]))); t.start_client(timeout=10)
seen = []
def answer(title, instructions, prompts):
    seen.extend(prompts); return ["foo", "bar"]
t.auth_interactive("tester", answer)
print(seen, t.is_authenticated())`;
  const result = await python(script, [String(ds.port)]);
  assert.equal(result.stdout.trim(), "[('Password: ', False), ('Token: ', False)] True", result.stderr);
  assert.ok(!JSON.stringify(ds.timeline).includes('"bar"'), "kbd-int answers must not be recorded");
});

test("public key auth for authorizedKeys (objects or a file), none only when allowed", async () => {
  using tmp = tempDir();
  const keyFile = join(tmp.dir, "id");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyFile]);
  const strangerFile = join(tmp.dir, "stranger");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", strangerFile]);
  {
    await using ds = await DemoServer.start({ authorizedKeys: `${keyFile}.pub` });
    assert.equal((await sshWithKey(ds.port, keyFile, "echo key")).stdout, "key\n");
    assert.notEqual((await sshWithKey(ds.port, strangerFile, "echo no")).code, 0);
    assert.equal((await ssh2({ port: ds.port, command: "echo none" })).ok, false);
    assert.deepEqual(ds.clients.map((c) => c.authMethod), ["publickey", undefined, undefined]);
  }
  {
    using key = SshKey.fromFile(`${keyFile}.pub`);
    await using ds = await DemoServer.start({ authorizedKeys: [key], allowAuthNone: true });
    assert.equal((await ssh2({ port: ds.port, privateKeyPath: keyFile, command: "echo k" })).stdout, "k\n");
    const none = await ssh2({ port: ds.port, command: "echo none" });
    assert.equal(none.stdout, "none\n");
    assert.deepEqual(ds.clients.map((c) => c.authMethod), ["none", "none"]); // ssh2 tries "none" first
  }
});

test("exec: exact quoting, streaming, stdin and EOF, exit codes and signals, env merge", async () => {
  await using ds = await DemoServer.start({ env: { FROM_SERVER: "server-value" } });
  const quoted = await sshWithPassword(ds.port, "foo", `printf '%s\\n' "a b" 'c"d'`);
  assert.equal(quoted.stdout, 'a b\nc"d\n');
  const streamed = await ssh2({ port: ds.port, password: "foo", command: "echo a; sleep 2; echo b" });
  assert.equal(streamed.stdout, "a\nb\n");
  assert.ok(streamed.firstOutputMs! < 1500, `first line after ${streamed.firstOutputMs} ms`);
  assert.ok(streamed.totalMs! >= 2000);
  const input = randomBytes(300_000);
  const cat = await sshWithPassword(ds.port, "foo", "sha256sum", { input });
  assert.equal(cat.stdout.split(" ")[0], sha256(input));
  assert.equal((await sshWithPassword(ds.port, "foo", "exit 42")).code, 42);
  const killed = await ssh2({ port: ds.port, password: "foo", command: "kill -TERM $$" });
  assert.deepEqual([killed.code, killed.signal], [null, "SIGTERM"]); // ssh2 reports the name with SIG
  const env = await ssh2({
    port: ds.port,
    password: "foo",
    command: 'echo "$CLIENT_VAR|$FROM_SERVER|${PATH:+path-set}"',
    env: { CLIENT_VAR: "client-value" },
  });
  assert.equal(env.stdout, "client-value|server-value|path-set\n");
  // Commands share the server's environment: one client's variables stay with its own command.
  const after = await ssh2({ port: ds.port, password: "foo", command: 'echo "[$CLIENT_VAR]$FROM_SERVER"' });
  assert.equal(after.stdout, "[]server-value\n");
  const stderr = await ssh2({ port: ds.port, password: "foo", command: "echo to-stderr >&2" });
  assert.equal(stderr.stderr, "to-stderr\n");
  assert.ok(ds.clients.some((c) => c.commands.includes("exit 42")));
});

test("large output arrives whole (back-pressure, nothing dropped)", async () => {
  await using ds = await DemoServer.start();
  const result = await ssh2({ port: ds.port, password: "foo", command: "head -c 20000000 /dev/zero" });
  assert.equal(result.stdoutLength, 20_000_000);
  assert.equal(result.stdoutSha256, sha256(new Uint8Array(20_000_000)));
});

test("an exec handler fakes commands in-process", async () => {
  await using ds = await DemoServer.start({
    exec: async (command, channel, context) => {
      await channel.write(`fake ${command} for ${context.client.user}\n`);
      return command === "fail" ? 3 : 0;
    },
  });
  const ok = await ssh2({ port: ds.port, password: "foo", command: "hello" });
  assert.deepEqual([ok.stdout, ok.code], ["fake hello for tester\n", 0]);
  assert.equal((await ssh2({ port: ds.port, password: "foo", command: "fail" })).code, 3);
});

test("sftp put/get/ls/mkdir/rename/rm with integrity checked by sha256", async () => {
  using tmp = tempDir();
  await using ds = await DemoServer.start({ cwd: tmp.dir });
  const local = join(tmp.dir, "local.bin");
  const data = randomBytes(2_000_000);
  writeFileSync(local, data);
  const remoteDir = join(tmp.dir, "remote");
  const batch = [
    `mkdir ${remoteDir}`,
    `put ${local} ${remoteDir}/up.bin`,
    `rename ${remoteDir}/up.bin ${remoteDir}/moved.bin`,
    `ls ${remoteDir}`,
    `get ${remoteDir}/moved.bin ${tmp.dir}/back.bin`,
    `rm ${remoteDir}/moved.bin`,
    `rmdir ${remoteDir}`,
  ].join("\n");
  const result = await run("sshpass", [
    "-p",
    "foo",
    "sftp",
    "-P",
    String(ds.port),
    ...SSH_OPTIONS,
    "-o",
    "PreferredAuthentications=password",
    "tester@127.0.0.1",
  ], { input: batch }); // commands on stdin: sftp -b would force BatchMode and so refuse passwords
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /moved\.bin/);
  assert.equal(sha256(readFileSync(join(tmp.dir, "back.bin"))), sha256(data));
  const script = `
import sys, paramiko
t = paramiko.Transport(("127.0.0.1", int(sys.argv[1]))); t.start_client(timeout=10); t.auth_password("u", "foo")
sftp = paramiko.SFTPClient.from_transport(t)
sftp.put(sys.argv[2], sys.argv[3]); print(sftp.stat(sys.argv[3]).st_size); sftp.remove(sys.argv[3])`;
  const viaParamiko = await python(script, [String(ds.port), local, join(tmp.dir, "p.bin")]);
  assert.equal(viaParamiko.stdout.trim(), "2000000", viaParamiko.stderr);
});

test("20 concurrent clients each pipe 1 MB through sha256sum", async () => {
  await using ds = await DemoServer.start();
  using tmp = tempDir();
  const jobs = Array.from({ length: 20 }, (_, i) => {
    const file = join(tmp.dir, `in-${i}`);
    const data = randomBytes(1_000_000);
    writeFileSync(file, data);
    return ssh2({ port: ds.port, password: "foo", command: "sha256sum", stdinFile: file })
      .then((result) => assert.equal(result.stdout?.split(" ")[0], sha256(data), `client ${i}`));
  });
  await Promise.all(jobs);
  assert.ok(ds.clients.length >= 20);
});

test("knownHostsLine is accepted by OpenSSH with StrictHostKeyChecking=yes", async () => {
  using tmp = tempDir();
  await using ds = await DemoServer.start();
  const knownHosts = join(tmp.dir, "known_hosts");
  writeFileSync(knownHosts, ds.knownHostsLine + "\n");
  const result = await run("sshpass", [
    "-p",
    "foo",
    "ssh",
    "-p",
    String(ds.port),
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${knownHosts}`,
    "-o",
    "PreferredAuthentications=password",
    "tester@127.0.0.1",
    "echo trusted",
  ]);
  assert.equal(result.stdout, "trusted\n", result.stderr);
  const keygen = execFileSync("ssh-keygen", ["-l", "-f", knownHosts], { encoding: "utf8" });
  assert.ok(keygen.includes(ds.fingerprint));
});

test("printTimeline prints a table and close() is idempotent", async () => {
  const ds = await DemoServer.start();
  await ssh2({ port: ds.port, password: "foo", command: "true" });
  let printed = "";
  ds.printTimeline((text) => printed += text);
  assert.match(printed, /auth-success/);
  assert.match(printed, /exit-status\s+code=0/);
  ds.printTimeline(() => {
    throw new Error("a broken printer");
  });
  await ds.close();
  await ds.close();
  assert.equal(ds.bind.isOpen, false);
});

test("CLI: JSON first line, works with ssh, SIGTERM with a client connected exits 0, bad flags exit 2", async () => {
  const cli = new URL("../src/demo/cli", import.meta.url);
  const bad = await runScript(cli, ["--no-such-flag"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /usage:/);
  const badCipher = await runScript(cli, ["--ciphers", "no-such-cipher"]);
  assert.equal(badCipher.code, 1);
  assert.match(badCipher.stderr, /invalid ciphers no-such-cipher/);
  // A shell reports the CLI's exit status: Deno's node:child_process reports the signal
  // it sent instead of the code the child exited with.
  const child = spawn("bash", [
    "-c",
    '"$@" & pid=$!; echo "pid $pid" >&2; wait $pid; echo "exit $?" >&2',
    "wrapper",
    ...scriptCommand(cli, [
      "--password",
      "pw",
      "--ciphers",
      "aes128-gcm@openssh.com",
      "--verbose",
      "--timeline",
    ])
      .flat(),
  ], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => stderr += d);
  const exited = new Promise<string>((resolve) =>
    child.on("exit", () => resolve(/exit (\d+)/.exec(stderr)?.[1] ?? ""))
  );
  const first = await new Promise<string>((resolve) => {
    let text = "";
    child.stdout.on("data", (d) => {
      text += d;
      if (text.includes("\n")) resolve(text.split("\n")[0]);
    });
  });
  const info = JSON.parse(first);
  assert.deepEqual(Object.keys(info).sort(), [
    "host",
    "hostKeyFingerprint",
    "knownHosts",
    "password",
    "port",
  ]);
  assert.match(info.hostKeyFingerprint, /^SHA256:/);
  assert.equal((await sshWithPassword(info.port, "pw", "echo via-cli")).stdout, "via-cli\n");
  const hanging = sshWithPassword(info.port, "pw", "sleep 30");
  while (!stderr.includes('command="sleep 30"')) await new Promise((resolve) => setTimeout(resolve, 50));
  const started = Date.now();
  process.kill(Number(/pid (\d+)/.exec(stderr)![1]), "SIGTERM");
  assert.equal(await exited, "0", stderr);
  assert.ok(Date.now() - started < 5000);
  await hanging;
  assert.match(stderr, /disconnected/);
});
