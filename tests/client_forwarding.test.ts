import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { connect as tcpConnect } from "node:net";
import { type ClientChannel, type ClientOptions, type ClientSession, connect } from "../mod.ts";
import { DemoServer } from "../src/demo/mod.ts";
import { rejectsWith } from "./support/client_fixtures.ts";
import { closedPort, startEchoServer } from "./support/echo_server.ts";
import { startSshd } from "./support/sshd.ts";

const sha256 = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex");

/** Runs `body` with a session to a private sshd, then to a DemoServer (with `extra` options). */
async function onBothServers(
  body: (ssh: ClientSession, server: "sshd" | "DemoServer") => Promise<void>,
  extra: Partial<ClientOptions> = {},
): Promise<void> {
  {
    await using sshd = await startSshd();
    await using ssh = await connect({
      host: "127.0.0.1",
      port: sshd.port,
      user: sshd.user,
      hostKey: { fingerprint: sshd.fingerprint },
      auth: { privateKey: sshd.clientKeyFile },
      ...extra,
    });
    await body(ssh, "sshd");
  }
  {
    await using ds = await DemoServer.start();
    await using ssh = await connect({
      host: "127.0.0.1",
      port: ds.port,
      user: "tester",
      hostKey: { key: ds.hostKey },
      auth: { password: "foo" },
      ...extra,
    });
    await body(ssh, "DemoServer");
  }
}

/** Sends `data` to 127.0.0.1:`port`, half-closes, and returns everything that came back. */
function roundTrip(port: number, data: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    const socket = tcpConnect({ host: "127.0.0.1", port, allowHalfOpen: true }, () => socket.end(data));
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("end", () => {
      socket.destroy();
      resolve(Buffer.concat(chunks));
    });
    socket.on("error", reject);
  });
}

/** Whether a TCP connect to 127.0.0.1:`port` is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    socket.on("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.on("error", () => resolve(true));
  });
}

/** Writes `data`, sends EOF, and reads the channel to its end. */
async function echoThrough(channel: ClientChannel, data: Uint8Array): Promise<Uint8Array> {
  const [echoed] = await Promise.all([
    new Response(channel.readable).arrayBuffer(),
    channel.write(data).then(() => channel.sendEof()),
  ]);
  return new Uint8Array(echoed);
}

test("openDirectTcpip (ssh -W): bytes to a local echo server and back; a closed port is channel-open-failed", async () => {
  await using echo = await startEchoServer();
  const dead = await closedPort();
  await onBothServers(async (ssh, server) => {
    const data = randomBytes(256 * 1024);
    await using channel = await ssh.openDirectTcpip({ host: "127.0.0.1", port: echo.port });
    assert.equal(sha256(await echoThrough(channel, data)), sha256(data), server);
    const error = await rejectsWith(
      ssh.openDirectTcpip({ host: "127.0.0.1", port: dead }),
      "channel-open-failed",
    );
    assert.ok("reason" in error && typeof error.reason === "string", server);
    // The session goes on.
    assert.equal((await ssh.run("echo after")).stdoutText, "after\n", server);
  });
});

test("forwardLocal (ssh -L): three clients at once, each gets its own bytes back; close stops listening", async () => {
  await using echo = await startEchoServer();
  await onBothServers(async (ssh, server) => {
    const forward = await ssh.forwardLocal({ host: "127.0.0.1", port: echo.port });
    assert.equal(forward.listenHost, "127.0.0.1");
    const payloads = [0, 1, 2].map(() => randomBytes(512 * 1024));
    const results = await Promise.all(payloads.map((data) => roundTrip(forward.listenPort, data)));
    results.forEach((result, i) =>
      assert.equal(sha256(result), sha256(payloads[i]), `${server} client ${i}`)
    );
    await forward.close();
    assert.equal(await refused(forward.listenPort), true, server);
  });
});

test("forwardRemote (ssh -R) port 0: the bound port reaches our echo server; onConnection; close cancels it", async () => {
  await using echo = await startEchoServer();
  await onBothServers(async (ssh, server) => {
    const forward = await ssh.forwardRemote({ listenPort: 0, host: "127.0.0.1", port: echo.port });
    assert.ok(forward.listenPort > 0 && forward.listenPort < 65536, `${server}: ${forward.listenPort}`);
    const data = randomBytes(300 * 1024);
    assert.equal(sha256(await roundTrip(forward.listenPort, data)), sha256(data), server);
    await forward.close();
    assert.equal(await refused(forward.listenPort), true, `${server}: still listening after close`);

    // onConnection takes the channel itself.
    const seen: number[] = [];
    const custom = await ssh.forwardRemote({
      onConnection: (channel, info) => {
        seen.push(info.port);
        void channel.write("hello from the client").then(() => channel.sendEof());
      },
    });
    const reply = await roundTrip(custom.listenPort, new Uint8Array(0));
    assert.equal(new TextDecoder().decode(reply), "hello from the client", server);
    assert.deepEqual(seen, [custom.listenPort]);
    await custom.close();
  });
});

test("keepalive on: 20 forward/close cycles all forward (the global-request slot is drained first)", async () => {
  await using echo = await startEchoServer();
  await onBothServers(async (ssh, server) => {
    for (let i = 0; i < 20; i++) {
      await new Promise((resolve) => setTimeout(resolve, 30)); // keepalives go out meanwhile
      await using forward = await ssh.forwardRemote({ listenPort: 0, host: "127.0.0.1", port: echo.port });
      const data = new TextEncoder().encode(`cycle ${i}`);
      assert.equal(new TextDecoder().decode(await roundTrip(forward.listenPort, data)), `cycle ${i}`, server);
    }
  }, { keepalive: { interval: 10, countMax: 1000 } });
});
