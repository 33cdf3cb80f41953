/**
 * LibSSH.jl's DemoServer tests (its test/LibSSHTests.jl, "Server" testset),
 * ported to this library: an example of moving a suite written against
 * another language's fixture. Each `test` keeps the name of the testset it
 * mirrors; the DemoServer is started per test on a free port instead of 2222.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { connect } from "node:net";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { DemoServer } from "../src/demo/mod.ts";
import { python, run, ssh2, SSH_OPTIONS, sshpassArgs, sshWithPassword } from "./support/clients.ts";
import { startBackground } from "./support/background.ts";
import { closedPort } from "./support/echo_server.ts";

/** `sshpass -p bar ssh … foo@127.0.0.1 …`, as the Julia suite's `ssh_cmd`. */
const sshCmd = (port: number, command: string, options: { input?: string; extra?: string[] } = {}) =>
  sshWithPassword(port, "bar", command, options);

describe("Server (LibSSH.jl's DemoServer testsets)", () => {
  test("Command execution", async () => {
    await using ds = await DemoServer.start({ password: "bar" });
    assert.equal((await sshCmd(ds.port, "exit 0")).code, 0);
    assert.equal((await sshCmd(ds.port, "exit 42")).code, 42);
    // Passing environment variables (the client sends `foo` with SendEnv).
    const env = await run("sshpass", sshpassArgs(ds.port, "bar", "echo $foo", ["-o", "SendEnv=foo"]), {
      env: { foo: "bar" },
    });
    assert.equal(env.stdout.trim(), "bar");
    // Writing data to stdin.
    assert.equal((await sshCmd(ds.port, "read var && echo $var", { input: "foo\n" })).stdout, "foo\n");
  });

  test("allow_auth_none", async () => {
    await using ds = await DemoServer.start({ allowAuthNone: true });
    const result = await run("ssh", [
      "-p",
      String(ds.port),
      ...SSH_OPTIONS,
      "-o",
      "BatchMode=yes",
      "-o",
      "PreferredAuthentications=none",
      "foo@127.0.0.1",
      "whoami",
    ]);
    assert.equal(result.stdout.trim(), userInfo().username, result.stderr);
  });

  test("Password authentication and session channels", async () => {
    await using ds = await DemoServer.start({ password: "bar" });
    const result = await sshCmd(ds.port, "whoami");
    assert.equal(result.code, 0);
    assert.equal(result.stdout.trim(), userInfo().username);
    const client = ds.clients[0];
    // The Julia suite checks `callback_log[:auth_none] == [true]` and the password
    // attempt; here the timeline records each attempt (never the password itself).
    const attempts = ds.timeline.filter((e) => e.client === client.id && e.event.startsWith("auth-"));
    assert.deepEqual(attempts.map((e) => e.event), ["auth-none", "auth-password", "auth-success"]);
    assert.equal(client.authMethod, "password");
    assert.deepEqual(client.commands, ["whoami"]);
    // Make sure that it can handle errors too.
    assert.equal((await sshCmd(ds.port, "exit 42")).code, 42);
  });

  test("Direct port forwarding", async () => {
    // The dummy HTTP server that only responds 200.
    const http = createServer((_request, response) => response.end());
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const httpPort = (http.address() as { port: number }).port;
    try {
      await using ds = await DemoServer.start({ password: "bar" });
      const localPort = await closedPort();
      await using ssh = startBackground(
        "sshpass",
        sshpassArgs(ds.port, "bar", "echo listening; sleep 60", [
          "-o",
          "ExitOnForwardFailure=yes",
          "-L",
          `${localPort}:127.0.0.1:${httpPort}`,
        ]),
      );
      await ssh.waitFor(/listening/);
      const response = await fetch(`http://127.0.0.1:${localPort}/`);
      assert.equal(response.status, 200);
      await response.body?.cancel();
      // The Julia suite checks `callback_log[:message_request]` for the direct-tcpip open.
      assert.ok(ds.timeline.some((e) => e.event === "forward-open" && e.data.port === httpPort));
    } finally {
      http.close();
    }
  });

  test("Keyboard-interactive authentication", async () => {
    await using ds = await DemoServer.start();
    // The Julia suite drives OpenSSH with `expect`; paramiko answers the prompts here.
    const script = `
import sys, paramiko
t = paramiko.Transport(("127.0.0.1", int(sys.argv[1]))); t.start_client(timeout=10)
t.auth_interactive("foo", lambda title, instructions, prompts: ["foo", "bar"])
ch = t.open_session(); ch.exec_command("whoami"); print(ch.recv_exit_status())`;
    const result = await python(script, [String(ds.port)]);
    assert.equal(result.stdout.trim(), "0", result.stderr);
    assert.equal(ds.clients[0].authMethod, "keyboard-interactive");
    assert.deepEqual(ds.clients[0].commands, ["whoami"]);
  });

  test("Multiple connections", async () => {
    await using ds = await DemoServer.start({ password: "bar" });
    await sshCmd(ds.port, "exit 0");
    await ssh2({ port: ds.port, password: "bar", command: "exit 0" });
    assert.equal(ds.clients.length, 2);
  });

  test("SFTP", async () => {
    const dir = mkdtempSync(join(tmpdir(), "libssh-jl-port-"));
    try {
      await using ds = await DemoServer.start({ password: "bar" });
      const src = join(dir, "foo");
      const dest = join(dir, "bar");
      writeFileSync(src, "sftp content\n");
      const result = await run("sshpass", [
        "-p",
        "bar",
        "sftp",
        "-P",
        String(ds.port),
        ...SSH_OPTIONS,
        "-o",
        "PreferredAuthentications=password",
        `foo@127.0.0.1:${src}`,
        dest,
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(readFileSync(dest, "utf8"), "sftp content\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the DemoServer cleans up lingering sessions", async () => {
    const ds = await DemoServer.start();
    // A client that connects and never says anything.
    const socket = connect({ host: "127.0.0.1", port: ds.port });
    await new Promise((resolve) => socket.on("connect", resolve));
    const closed = new Promise((resolve) => socket.on("close", resolve));
    socket.on("error", () => {}); // the server may reset the connection: either way it ends
    socket.resume();
    await ds.close();
    await closed;
    assert.equal(ds.bind.isOpen, false);
  });
});
