import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { connect } from "node:net";
import { DemoServer } from "../src/demo/mod.ts";
import { python, run, sshpassArgs } from "./support/clients.ts";
import { startBackground } from "./support/background.ts";
import { closedPort, startEchoServer } from "./support/echo_server.ts";

const sha256 = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex");

/** `ssh -W target`: the client's stdin and stdout become one direct-tcpip channel to `target`. */
function sshStdioForward(port: number, target: string, input?: string): ReturnType<typeof run> {
  const args = sshpassArgs(port, "foo", "", ["-W", target]);
  return run("sshpass", args.slice(0, -1), { input }); // -W takes no remote command
}

/** Sends `data` to 127.0.0.1:`port`, half-closes, and returns everything that came back. */
function roundTrip(port: number, data: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    const socket = connect({ host: "127.0.0.1", port, allowHalfOpen: true }, () => socket.end(data));
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
    const socket = connect({ host: "127.0.0.1", port });
    socket.on("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.on("error", () => resolve(true));
  });
}

test("direct-tcpip: ssh -W carries 2 MB both ways intact, with half-close", async () => {
  await using ds = await DemoServer.start();
  await using echo = await startEchoServer();
  const data = randomBytes(1_000_000).toString("hex"); // text: run() decodes the output as UTF-8
  const result = await sshStdioForward(ds.port, `127.0.0.1:${echo.port}`, data);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.length, data.length);
  assert.equal(sha256(new TextEncoder().encode(result.stdout)), sha256(new TextEncoder().encode(data)));
});

test("direct-tcpip: ssh -L forwards a local port", async () => {
  await using ds = await DemoServer.start();
  await using echo = await startEchoServer();
  const localPort = await closedPort();
  await using ssh = startBackground(
    "sshpass",
    sshpassArgs(ds.port, "foo", "echo forwarding-ready; sleep 60", [
      "-o",
      "ExitOnForwardFailure=yes",
      "-L",
      `127.0.0.1:${localPort}:127.0.0.1:${echo.port}`,
    ]),
  );
  await ssh.waitFor(/forwarding-ready/);
  for (const size of [1, 100_000, 3_000_000]) {
    const data = randomBytes(size);
    assert.equal(sha256(await roundTrip(localPort, data)), sha256(data), `${size} bytes`);
  }
  const opened = ds.timeline.filter((entry) => entry.event === "forward-open");
  assert.equal(opened.length, 3);
  assert.equal(opened[0].data.port, echo.port);
});

test("direct-tcpip to a refused target: the channel is refused, the reason is in the timeline", async () => {
  await using ds = await DemoServer.start();
  const port = await closedPort();
  const result = await sshStdioForward(ds.port, `127.0.0.1:${port}`);
  assert.equal(result.code, 255);
  assert.match(result.stderr, /open failed|forwarding failed/);
  const refusal = ds.timeline.find((entry) => entry.event === "forward-refused");
  assert.ok(refusal, "a forward-refused event");
  assert.match(String(refusal.data.reason), /Connection refused/);
  assert.ok(!ds.timeline.some((entry) => entry.event === "forward-open"), "no channel was opened");
});

test("reverse forwarding: ssh -R 0 gets an allocated port; connections come back through the client", async () => {
  await using ds = await DemoServer.start();
  await using echo = await startEchoServer();
  await using ssh = startBackground(
    "sshpass",
    sshpassArgs(ds.port, "foo", "echo forwarding-ready; sleep 60", [
      "-o",
      "ExitOnForwardFailure=yes",
      "-R",
      `0:127.0.0.1:${echo.port}`,
    ]),
  );
  await ssh.waitFor(/forwarding-ready/); // ssh runs the command once the forwarding was granted
  const allocated = Number(ds.timeline.find((entry) => entry.event === "reverse-forward")?.data.port);
  assert.ok(allocated > 0);
  const data = randomBytes(1_500_000);
  assert.equal(sha256(await roundTrip(allocated, data)), sha256(data));
  assert.equal(sha256(await roundTrip(allocated, data.subarray(0, 10))), sha256(data.subarray(0, 10)));
  assert.equal(echo.connections, 2);
  await ssh[Symbol.asyncDispose]();
  for (let i = 0; i < 100 && !ds.timeline.some((e) => e.event === "disconnected"); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(await refused(allocated), true, "the port closes with the session");
});

test("reverse forwarding with paramiko: tcpip-forward port 0, then cancel-tcpip-forward", async () => {
  await using ds = await DemoServer.start();
  const script = `
import socket, sys, threading, paramiko
t = paramiko.Transport(("127.0.0.1", int(sys.argv[1]))); t.connect(username="tester", password="foo")
port = t.request_port_forward("", 0)
def serve():
    ch = t.accept(10)
    ch.sendall(b"hello from the client side"); ch.close()
threading.Thread(target=serve).start()
s = socket.create_connection(("127.0.0.1", port), timeout=10)
print(s.recv(100).decode()); s.close()
t.cancel_port_forward("", port)
try:
    socket.create_connection(("127.0.0.1", port), timeout=5); print("still open")
except ConnectionRefusedError:
    print("closed after cancel")
t.close()`;
  const result = await python(script, [String(ds.port)]);
  assert.equal(result.stdout, "hello from the client side\nclosed after cancel\n", result.stderr);
  assert.ok(ds.timeline.some((entry) => entry.event === "reverse-forward-cancelled"));
});
