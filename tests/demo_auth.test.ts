import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DemoServer } from "../src/demo/mod.ts";
import { SshKey } from "../mod.ts";
import { startBackground } from "./support/background.ts";
import { run, scriptCommand, ssh2, sshWithKey, sshWithPassword } from "./support/clients.ts";

// The DemoServer's choice of auth methods, and the clients each setting is for.

interface CliInfo {
  port: number;
  hostKeyFingerprint: string;
}

/** Runs the CLI with `args` while `use` runs; stops it with SIGTERM. */
async function withCli(args: string[], use: (info: CliInfo) => Promise<void>): Promise<void> {
  const [command, commandArgs] = scriptCommand(new URL("../src/demo/cli", import.meta.url), [
    "--password",
    "pw",
    ...args,
  ]);
  await using cli = startBackground(command, commandArgs);
  const [line] = await cli.waitFor(/^\{.*\}$/m, 30_000);
  await use(JSON.parse(line));
}

/** PuTTY's plink in batch mode, trusting exactly the server's host key. */
const plink = (info: CliInfo, command: string) =>
  run("plink", [
    "-batch",
    "-ssh",
    "-P",
    String(info.port),
    "-pw",
    "pw",
    "-hostkey",
    info.hostKeyFingerprint,
    "tester@127.0.0.1",
    command,
  ]);

/** dropbear's dbclient with DROPBEAR_PASSWORD, in a throw-away HOME (it would note the host key there). */
async function dbclient(
  info: CliInfo,
  command: string,
): Promise<{ stdout: string; stderr: string; code: number | null }> {
  const home = mkdtempSync(join(tmpdir(), "libssh-dbclient-"));
  try {
    return await run("dbclient", ["-y", "-y", "-p", String(info.port), "tester@127.0.0.1", command], {
      env: { HOME: home, DROPBEAR_PASSWORD: "pw" },
    });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

test("CLI --auth password: PuTTY's plink -batch and dropbear's dbclient run commands", async () => {
  await withCli(["--auth", "password"], async (info) => {
    const viaPlink = await plink(info, "echo via plink; exit 3");
    assert.deepEqual([viaPlink.stdout, viaPlink.code], ["via plink\n", 3], viaPlink.stderr);
    const viaDropbear = await dbclient(info, "echo via dbclient");
    assert.deepEqual([viaDropbear.stdout, viaDropbear.code], ["via dbclient\n", 0], viaDropbear.stderr);
  });
});

test("CLI default auth: plink -batch and dbclient meet the keyboard-interactive prompts and fail", async () => {
  await withCli([], async (info) => {
    const viaPlink = await plink(info, "true");
    assert.equal(viaPlink.code, 1);
    assert.match(viaPlink.stderr, /Cannot answer interactive prompts in batch mode/);
    assert.notEqual((await dbclient(info, "true")).code, 0);
  });
});

test("CLI --auth with an unknown method: usage, exit 2", async () => {
  const [command, args] = scriptCommand(new URL("../src/demo/cli", import.meta.url), [
    "--auth",
    "password,pin",
  ]);
  const result = await run(command, args);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--auth: unknown method "pin"/);
});

test("authMethods: only the methods offered log anyone in", async () => {
  const dir = mkdtempSync(join(tmpdir(), "libssh-auth-"));
  try {
    const keyFile = join(dir, "id");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyFile]);
    const authorizedKeys = [SshKey.fromFile(`${keyFile}.pub`)];
    {
      await using ds = await DemoServer.start({ authMethods: ["publickey"], authorizedKeys });
      assert.equal((await sshWithKey(ds.port, keyFile, "echo key")).stdout, "key\n");
      assert.notEqual((await sshWithPassword(ds.port, "foo", "echo no")).code, 0);
      assert.equal((await ssh2({ port: ds.port, kbdAnswers: ["foo", "bar"], command: "echo no" })).ok, false);
      assert.deepEqual(ds.authMethods, ["publickey"]);
    }
    {
      await using ds = await DemoServer.start({ authMethods: ["keyboard-interactive"], authorizedKeys });
      assert.equal(
        (await ssh2({ port: ds.port, kbdAnswers: ["foo", "bar"], command: "echo kbd" })).stdout,
        "kbd\n",
      );
      assert.equal((await ssh2({ port: ds.port, password: "foo", command: "echo no" })).ok, false);
      assert.notEqual((await sshWithKey(ds.port, keyFile, "echo no")).code, 0);
    }
    {
      await using ds = await DemoServer.start({ authMethods: ["password"], allowAuthNone: true });
      assert.deepEqual(ds.authMethods, ["password", "none"]);
      assert.equal(ds.allowAuthNone, true);
    }
    await assert.rejects(DemoServer.start({ authMethods: [] }), TypeError);
    await assert.rejects(
      // @ts-expect-error: not a method
      DemoServer.start({ authMethods: ["password", "pin"] }),
      /unknown auth method "pin": use password, keyboard-interactive, publickey, none/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
