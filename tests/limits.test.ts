import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { Bind, DEFAULT_LIMITS, SshKey } from "../mod.ts";
import { DemoServer } from "../src/demo/mod.ts";
import { python, ssh2 } from "./support/clients.ts";
import { startEchoServer } from "./support/echo_server.ts";

/** A raw TCP client that reads the server's banner and then says nothing. */
function silentClient(port: number): Promise<{ socket: Socket; ended: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    const start = Date.now();
    const ended = new Promise<number>((done) => {
      socket.on("end", () => done(Date.now() - start));
      socket.on("close", () => done(Date.now() - start));
    });
    socket.on("error", () => {});
    socket.resume();
    socket.on("connect", () => resolve({ socket, ended }));
    socket.on("error", reject);
  });
}

const limitEvents = (ds: DemoServer): string[] =>
  ds.timeline.filter((entry) => entry.event === "limit").map((entry) => String(entry.data.limit));

test("limits: defaults, and bad values are refused", () => {
  assert.deepEqual(DEFAULT_LIMITS, {
    maxAuthAttempts: 6,
    loginGraceTime: 120_000,
    maxUnauthenticated: 100,
    maxUnauthenticatedStart: 10,
    maxUnauthenticatedRate: 30,
    maxChannelsPerSession: 64,
    channelInputHighWaterMark: 1024 * 1024,
    sessionInputHighWaterMark: 8 * 1024 * 1024,
    sessionOutputHighWaterMark: 1024 * 1024,
    maxEnvRequestsPerChannel: 64,
    maxEnvBytesPerChannel: 65_536,
    maxReverseForwardsPerSession: 16,
  });
  const hostKey = SshKey.generate("ed25519");
  assert.throws(() => new Bind({ hostKey, limits: { maxAuthAttempts: 0 } }), RangeError);
  assert.throws(() => new Bind({ hostKey, limits: { idleTimeout: 1.5 } }), RangeError);
  assert.throws(() => new Bind({ hostKey, limits: { maxUnauthenticatedRate: 101 } }), RangeError);
  assert.throws(() => new Bind({ hostKey, limits: { maxAuthTries: 3 } as never }), TypeError);
  hostKey.close();
});

test("maxAuthAttempts: the client is disconnected after that many failures (paramiko)", async () => {
  await using ds = await DemoServer.start({ limits: { maxAuthAttempts: 2 } });
  // paramiko reports a connection closed during auth as a failed attempt, so the third
  // (right) password shows up as "not accepted"; the transport being gone is what counts.
  const script = `
import sys, time, paramiko
t = paramiko.Transport(("127.0.0.1", int(sys.argv[1]))); t.start_client(timeout=10)
for attempt in ("wrong1", "wrong2", "foo"):
    try:
        t.auth_password("tester", attempt); print(attempt, "accepted")
    except Exception:
        print(attempt, "not accepted")
time.sleep(0.2)
print("connected" if t.is_active() else "disconnected")`;
  const result = await python(script, [String(ds.port)]);
  assert.equal(
    result.stdout,
    "wrong1 not accepted\nwrong2 not accepted\nfoo not accepted\ndisconnected\n",
    result.stderr,
  );
  assert.deepEqual(limitEvents(ds), ["maxAuthAttempts"]);
  const ok = await ssh2({ port: ds.port, password: "foo", command: "echo fine" });
  assert.equal(ok.stdout, "fine\n", "other clients are unaffected");
});

test("loginGraceTime: a silent client is dropped; a logged-in one stays", async () => {
  await using ds = await DemoServer.start({ limits: { loginGraceTime: 300 } });
  const silent = await silentClient(ds.port);
  const longer = ssh2({ port: ds.port, password: "foo", command: "sleep 0.8; echo still-here" });
  const elapsed = await silent.ended;
  assert.ok(elapsed >= 250 && elapsed < 5000, `dropped after ${elapsed} ms`);
  assert.equal((await longer).stdout, "still-here\n");
  assert.ok(limitEvents(ds).includes("loginGraceTime"));
});

test("maxUnauthenticated: at the limit a silent connection makes room; when all are logging in, newcomers are refused", async () => {
  await using ds = await DemoServer.start({ limits: { maxUnauthenticated: 3 } });
  const idle = await Promise.all([1, 2, 3].map(() => silentClient(ds.port)));
  await new Promise((resolve) => setTimeout(resolve, 1100)); // silent for over a second: idle
  const accepted = await ssh2({ port: ds.port, password: "foo", command: "echo in" });
  assert.equal(accepted.stdout, "in\n", accepted.error);
  await idle[0].ended; // the oldest silent connection made room
  assert.deepEqual(limitEvents(ds), ["maxUnauthenticated"]);
  for (const client of idle) client.socket.destroy();
  // Three clients past the key exchange, at the login prompt: they are kept, the newcomer goes.
  const waiting = spawn("/usr/bin/python3", [
    "-c",
    `import sys, paramiko
held = []
for i in range(3):
    t = paramiko.Transport(("127.0.0.1", int(sys.argv[1]))); t.start_client(timeout=10); held.append(t)
print("ready", flush=True)
sys.stdin.read()`,
    String(ds.port),
  ], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise((resolve) => waiting.on("close", resolve));
  await new Promise((resolve) => waiting.stdout.once("data", resolve));
  const refused = await ssh2({ port: ds.port, password: "foo", command: "true" });
  assert.equal(refused.ok, false);
  assert.equal(limitEvents(ds).length, 2);
  waiting.stdin.end();
  await exited;
});

test("maxChannelsPerSession: session and direct-tcpip opens beyond it are refused (paramiko)", async () => {
  await using ds = await DemoServer.start({ limits: { maxChannelsPerSession: 2 } });
  await using echo = await startEchoServer();
  const script = `
import sys, paramiko
t = paramiko.Transport(("127.0.0.1", int(sys.argv[1]))); t.connect(username="tester", password="foo")
opened = [t.open_session(), t.open_channel("direct-tcpip", ("127.0.0.1", int(sys.argv[2])), ("127.0.0.1", 1))]
for kind in ("session", "direct-tcpip"):
    try:
        t.open_session() if kind == "session" else t.open_channel("direct-tcpip", ("127.0.0.1", int(sys.argv[2])), ("127.0.0.1", 1))
        print(kind, "opened")
    except paramiko.ChannelException:
        print(kind, "refused")
opened[0].close()
import time; time.sleep(0.2)
c = t.open_session(); c.exec_command("echo room-again"); print(c.makefile().read().decode().strip())`;
  const result = await python(script, [String(ds.port), String(echo.port)]);
  assert.equal(result.stdout, "session refused\ndirect-tcpip refused\nroom-again\n", result.stderr);
  assert.deepEqual(limitEvents(ds), ["maxChannelsPerSession", "maxChannelsPerSession"]);
});

test("idleTimeout: a quiet session is disconnected, a busy one is not", async () => {
  // Margins for a loaded 2-core machine: output every 0.2 s for 1.6 s against 1 s of allowed quiet.
  await using ds = await DemoServer.start({ limits: { idleTimeout: 1000 } });
  const busy = await ssh2({
    port: ds.port,
    password: "foo",
    command: "for i in 1 2 3 4 5 6 7 8; do echo $i; sleep 0.2; done",
  });
  assert.equal(busy.stdout, "1\n2\n3\n4\n5\n6\n7\n8\n", busy.error);
  const script = `
import sys, time, paramiko
t = paramiko.Transport(("127.0.0.1", int(sys.argv[1]))); t.connect(username="tester", password="foo")
time.sleep(2.5)
print("active" if t.is_active() else "disconnected")`;
  const quiet = await python(script, [String(ds.port)]);
  assert.equal(quiet.stdout, "disconnected\n", quiet.stderr);
  assert.ok(limitEvents(ds).includes("idleTimeout"));
});

test("nothing before login: no command, no channel, no forwarding (paramiko)", async () => {
  await using ds = await DemoServer.start();
  await using echo = await startEchoServer();
  const script = `
import sys, paramiko
def attempt(what, fn):
    t = paramiko.Transport(("127.0.0.1", int(sys.argv[1]))); t.start_client(timeout=10)
    try:
        fn(t); print(what, "ALLOWED")
    except Exception:
        print(what, "refused")
    t.close()
attempt("session", lambda t: t.open_session(timeout=5).exec_command("touch /tmp/should-not-exist"))
attempt("direct-tcpip", lambda t: t.open_channel("direct-tcpip", ("127.0.0.1", int(sys.argv[2])), ("127.0.0.1", 1), timeout=5))
attempt("tcpip-forward", lambda t: t.request_port_forward("127.0.0.1", 0))  # raises when denied`;
  const result = await python(script, [String(ds.port), String(echo.port)]);
  assert.equal(
    result.stdout,
    "session refused\ndirect-tcpip refused\ntcpip-forward refused\n",
    result.stderr,
  );
  assert.equal(echo.connections, 0);
  assert.ok(!ds.timeline.some((entry) => entry.event === "exec"));
});
