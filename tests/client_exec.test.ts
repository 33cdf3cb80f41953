import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { type ClientSession, CommandFailedError } from "../mod.ts";
import { DemoServer } from "../src/demo/mod.ts";
import { runScript } from "./support/clients.ts";
import {
  connectToDemo,
  connectToSshd,
  knownHostsFile,
  rejectsWith,
  scratch,
  sleep,
} from "./support/client_fixtures.ts";
import { createLocalUser } from "./support/local_user.ts";
import { startSshd } from "./support/sshd.ts";

/**
 * Runs `body` with a logged-in session to a private sshd, then to a
 * DemoServer. The sshd session is a throw-away user's: sshd does not deliver
 * signals to root's sessions.
 */
async function onBothServers(
  body: (ssh: ClientSession, server: "sshd" | "DemoServer") => Promise<void>,
): Promise<void> {
  {
    await using sshd = await startSshd();
    await using user = await createLocalUser();
    await using ssh = await connectToSshd(sshd, user.name);
    await body(ssh, "sshd");
  }
  {
    await using ds = await DemoServer.start();
    await using ssh = await connectToDemo(ds);
    await body(ssh, "DemoServer");
  }
}

test("stdout and stderr apart, exit status, exit signal, check", async () => {
  await onBothServers(async (ssh, server) => {
    const result = await ssh.run("echo out; echo err >&2; exit 3");
    assert.equal(result.stdoutText, "out\n", server);
    assert.equal(result.stderrText, "err\n", server);
    assert.equal(result.exitStatus, 3, server);
    assert.equal(result.exitSignal, null, server);
    assert.equal(result.ok, false);
    const killed = await ssh.run("kill -TERM $$");
    assert.equal(killed.exitSignal, "TERM", server);
    assert.equal(killed.exitStatus, null, server);
    const error = await rejectsWith(ssh.run("echo oops >&2; exit 2", { check: true }), "command-failed");
    assert.ok(error instanceof CommandFailedError);
    assert.equal(error.result.exitStatus, 2);
    assert.match(error.message, /status 2: oops/);
    assert.equal((await ssh.run("true", { check: true })).ok, true);
  });
});

test("env: FOO reaches the command on both; sshd refuses a name AcceptEnv lacks, naming AcceptEnv", async () => {
  await onBothServers(async (ssh, server) => {
    const result = await ssh.run('printf %s "$FOO"', { env: { FOO: "bar baz" } });
    assert.equal(result.stdoutText, "bar baz", server);
    if (server === "sshd") {
      const error = await rejectsWith(ssh.run("true", { env: { NOT_ACCEPTED: "1" } }), "request-denied");
      assert.match(error.message, /NOT_ACCEPTED.*AcceptEnv/);
    }
  });
});

test("stdin: a string, and 32 MiB from a stream through sha256sum with bounded memory", async () => {
  await onBothServers(async (ssh, server) => {
    assert.equal((await ssh.run("cat", { stdin: "hello" })).stdoutText, "hello", server);
    const total = 32 * 1024 * 1024;
    const chunk = 64 * 1024;
    const hash = createHash("sha256");
    let sent = 0;
    let seed = 1;
    const stdin = new ReadableStream<Uint8Array>({
      pull(controller): void {
        if (sent === total) {
          controller.close();
          return;
        }
        const bytes = new Uint8Array(chunk);
        for (let i = 0; i < bytes.length; i += 4) {
          seed = (seed * 1103515245 + 12345) >>> 0;
          bytes[i] = seed & 0xff;
          bytes[i + 1] = seed >>> 8;
        }
        hash.update(bytes);
        sent += bytes.length;
        controller.enqueue(bytes);
      },
    }, { highWaterMark: 0 });
    (globalThis as { gc?: () => void }).gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => peak = Math.max(peak, process.memoryUsage().rss), 20);
    try {
      const result = await ssh.run("sha256sum", { stdin, check: true });
      assert.equal(result.stdoutText.split(" ")[0], hash.digest("hex"), server);
    } finally {
      clearInterval(sampler);
    }
    // With the DemoServer in this process, its side of the transfer counts too: only sshd's run measures the client.
    const grown = (peak - before) / 1024 / 1024;
    if (server === "sshd") assert.ok(grown < 24, `RSS grew by ${grown.toFixed(1)} MiB while sending 32 MiB`);
  });
});

test("pty: tty is a /dev/pts device, resize reaches stty size", async () => {
  await onBothServers(async (ssh, server) => {
    const tty = await ssh.run("tty", { pty: true });
    assert.match(tty.stdoutText, /^\/dev\/pts\/\d+\r?\n$/, server);
    await using resized = await ssh.spawn("sleep 1; stty size", { pty: { cols: 80, rows: 24 } });
    await resized.resize(100, 40);
    const output = await new Response(resized.stdout).text();
    assert.equal(output.trim(), "40 100", server);
    assert.equal((await resized.exited).exitStatus, 0);
  });
});

test("timeout and abort stop the command and reject with timeout / aborted", async () => {
  await onBothServers(async (ssh, server) => {
    const started = Date.now();
    await rejectsWith(ssh.run("sleep 30", { timeout: 300 }), "timeout");
    assert.ok(Date.now() - started < 5000, server);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    await rejectsWith(ssh.run("sleep 30", { signal: controller.signal }), "aborted");
    const aborted = new AbortController();
    aborted.abort();
    await rejectsWith(ssh.run("echo never", { signal: aborted.signal }), "aborted");
    // The session goes on.
    assert.equal((await ssh.run("echo still")).stdoutText, "still\n", server);
  });
});

test("spawn: streaming stdin and stdout, EOF ends cat, kill sends a signal", async () => {
  await onBothServers(async (ssh, server) => {
    const cat = await ssh.spawn("cat");
    const writer = cat.stdin.getWriter();
    const reader = cat.stdout.getReader();
    await writer.write(new TextEncoder().encode("ping\n"));
    const { value } = await reader.read();
    assert.equal(new TextDecoder().decode(value), "ping\n", server);
    await writer.close();
    assert.equal((await reader.read()).done, true);
    assert.equal((await cat.exited).exitStatus, 0);

    const sleeper = await ssh.spawn("exec sleep 30");
    await sleep(100);
    await sleeper.kill("TERM");
    const exit = await sleeper.exited;
    assert.equal(exit.exitSignal, "TERM", server);
  });
});

test("examples/client.ts runs a command on a host from a known_hosts file, and refuses an unknown host", async () => {
  await using sshd = await startSshd();
  using tmp = scratch();
  const knownHosts = knownHostsFile(tmp.dir, sshd.knownHostsLine);
  const example = new URL("../examples/client", import.meta.url);
  const args = [
    "-p",
    String(sshd.port),
    "-i",
    sshd.clientKeyFile,
    "-o",
    knownHosts,
    `${sshd.user}@127.0.0.1`,
  ];
  const ok = await runScript(example, [...args, "echo out; echo err >&2; exit 3"], {
    env: { SSH_AUTH_SOCK: "" },
  });
  assert.equal(ok.stdout, "out\n");
  assert.equal(ok.stderr, "err\n");
  assert.equal(ok.code, 3);
  const unknown = await runScript(
    example,
    [
      "-p",
      String(sshd.port),
      "-i",
      sshd.clientKeyFile,
      "-o",
      knownHostsFile(tmp.dir),
      `${sshd.user}@127.0.0.1`,
      "true",
    ],
    { env: { SSH_AUTH_SOCK: "" } },
  );
  assert.equal(unknown.code, 255);
  assert.match(unknown.stderr, /^host-key-unknown: /);
});
