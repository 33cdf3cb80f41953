/**
 * Bounded resources: what one hostile client makes the DemoServer CLI hold.
 * The server runs as its own process, so the RSS read from /proc is its
 * alone; the clients are paramiko and OpenSSH, each in its own process.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { DemoServer } from "../src/demo/mod.ts";
import { mebibytes } from "./support/census.ts";
import { python, run, sshpassArgs, sshWithPassword } from "./support/clients.ts";
import { type CliServer, startCli } from "./support/cli_server.ts";

const MiB = 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** RSS after a warm-up exec, once it stopped moving. */
async function baselineRss(server: CliServer): Promise<number> {
  const warm = await sshWithPassword(server.port, "foo", "head -c 2000000 /dev/zero | cat", {
    input: new Uint8Array(2_000_000),
  });
  assert.equal(warm.code, 0, warm.stderr);
  await sleep(500);
  return server.rss();
}

const limitLines = (server: CliServer, limit: string): number =>
  server.stderr().split("\n").filter((line) => / limit /.test(line) && line.includes(limit)).length;

test("stdin flood: 256 MiB to `sleep` stops at the window; server RSS grows by at most 64 MiB (paramiko)", async () => {
  await using server = await startCli();
  const baseline = await baselineRss(server);
  const peak = server.sampleRss();
  // send() blocks once the window is closed; after 3 s without room the client gives up.
  const script = `
import sys, socket, paramiko
t = paramiko.Transport(("127.0.0.1", int(sys.argv[1]))); t.connect(username="tester", password="foo")
c = t.open_session(); c.exec_command("sleep 60"); c.settimeout(3)
sent, total, block = 0, 256 * 1024 * 1024, b"\\0" * 65536
try:
    while sent < total:
        sent += c.send(block)
except socket.timeout:
    pass
print(sent)`;
  const result = await python(script, [String(server.port)]);
  const growth = peak.stop() - baseline;
  const sent = Number(result.stdout.trim());
  await sleep(1000);
  const after = server.rss() - baseline;
  console.log(
    `stdin flood: client sent ${mebibytes(sent)} MiB before the window closed; ` +
      `server RSS peak +${mebibytes(growth)} MiB, +${mebibytes(after)} MiB after the client left`,
  );
  assert.ok(sent > 0 && sent < 32 * MiB, `the window never closed: ${result.stdout} ${result.stderr}`);
  assert.ok(growth <= 64 * MiB, `RSS grew by ${mebibytes(growth)} MiB`);
});

test("stalled reader: a 4 GiB window and a client that stops reading; server RSS grows by at most 64 MiB (paramiko)", async () => {
  await using server = await startCli();
  const baseline = await baselineRss(server);
  const peak = server.sampleRss();
  // The client asks for the largest window, reads 1 MiB and then stops reading its socket: SIGSTOP.
  const script = `
import os, signal, sys, paramiko
t = paramiko.Transport(("127.0.0.1", int(sys.argv[1])), default_window_size=2**32 - 1)
t.connect(username="tester", password="foo")
c = t.open_session(); c.exec_command("head -c 1G /dev/zero")
got = 0
while got < 1024 * 1024:
    got += len(c.recv(65536))
print("stalled", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)`;
  const client = spawn("/usr/bin/python3", ["-c", script, String(server.port)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise((resolve) => client.on("close", resolve));
  await new Promise<void>((resolve) => client.stdout.on("data", () => resolve()));
  await sleep(4000);
  const growth = peak.stop() - baseline;
  process.kill(client.pid!, "SIGKILL");
  await exited;
  await sleep(1000);
  const after = server.rss() - baseline;
  console.log(
    `stalled reader: server RSS peak +${mebibytes(growth)} MiB, +${
      mebibytes(after)
    } MiB after the client left`,
  );
  assert.ok(growth <= 64 * MiB, `RSS grew by ${mebibytes(growth)} MiB`);
});

test("env flood: requests past the count and size caps are refused; at most 16 MiB kept (paramiko)", async () => {
  await using server = await startCli(["--verbose"]);
  const baseline = await baselineRss(server);
  // Channel 1: 200 small variables (count cap 64). Channel 2: 1000 of 50 kB (size cap 64 KiB).
  const script = `
import sys, paramiko
t = paramiko.Transport(("127.0.0.1", int(sys.argv[1]))); t.connect(username="tester", password="foo")
small = t.open_session()
for i in range(200):
    small.set_environment_variable("FLOOD_%d" % i, "x")
small.exec_command("env | grep -c '^FLOOD_'")
print(small.makefile().read().decode().strip())
big = t.open_session()
for i in range(1000):
    big.set_environment_variable("BIG_%d" % i, "y" * 50000)
big.exec_command("env | grep -c '^BIG_'")
print(big.makefile().read().decode().strip())`;
  const result = await python(script, [String(server.port)]);
  assert.equal(result.stdout, "64\n1\n", result.stderr);
  await sleep(1000);
  const kept = server.rss() - baseline;
  console.log(
    `env flood: ${limitLines(server, "maxEnvRequestsPerChannel")} refused by count, ` +
      `${limitLines(server, "maxEnvBytesPerChannel")} by size; +${mebibytes(kept)} MiB kept`,
  );
  assert.ok(limitLines(server, "maxEnvRequestsPerChannel") >= 136);
  assert.ok(limitLines(server, "maxEnvBytesPerChannel") >= 999 - 64);
  assert.ok(kept <= 16 * MiB, `RSS kept ${mebibytes(kept)} MiB`);
});

test("tcpip-forward past the cap is refused; cancelling one makes room (paramiko)", async () => {
  await using server = await startCli(["--verbose"]);
  const script = `
import sys, paramiko
t = paramiko.Transport(("127.0.0.1", int(sys.argv[1]))); t.connect(username="tester", password="foo")
ports = []
try:
    for i in range(100):
        ports.append(t.request_port_forward("127.0.0.1", 0))
except paramiko.SSHException:
    pass
print(len(ports))
t.cancel_port_forward("127.0.0.1", ports[0])
t.request_port_forward("127.0.0.1", 0)
print("room again")`;
  const result = await python(script, [String(server.port)]);
  assert.equal(result.stdout, "16\nroom again\n", result.stderr);
  assert.equal(limitLines(server, "maxReverseForwardsPerSession"), 1);
});

test("answers a client does not read: past twice the output mark the server stops reading it (ssh2)", async () => {
  await using server = await startCli(["--verbose"]);
  const baseline = await baselineRss(server);
  const peak = server.sampleRss();
  const flood = fileURLToPath(new URL("./support/ssh2_flood.mjs", import.meta.url));
  const result = await run("node", [
    flood,
    JSON.stringify({ port: server.port, password: "foo", seconds: 8 }),
  ]);
  const growth = peak.stop() - baseline;
  const report = JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "{}");
  console.log(
    `unread answers: ${report.sent} requests sent, ${mebibytes(report.unsent)} MiB of them left unsent ` +
      `once the server stopped reading (${limitLines(server, "sessionOutputHighWaterMark")} times); ` +
      `server RSS peak +${mebibytes(growth)} MiB`,
  );
  assert.equal(report.ok, true, result.stderr);
  const stops = limitLines(server, "sessionOutputHighWaterMark");
  assert.ok(stops >= 1, "the server never stopped reading");
  assert.ok(report.unsent > 0, "the client could send everything: the server went on reading");
  // Reading on, the server held the answers: +12 MiB after 5 s of this, and growing.
  assert.ok(growth <= 12 * MiB, `RSS grew by ${mebibytes(growth)} MiB`);
});

test("nothing lost: 512 MiB through sha256sum and through cat, server RSS bounded (OpenSSH)", async () => {
  await using server = await startCli();
  const dir = mkdtempSync(join(tmpdir(), "bounds-"));
  try {
    const baseline = await baselineRss(server);
    const block = randomBytes(64 * MiB);
    const file = join(dir, "block.bin");
    writeFileSync(file, block);
    const hash = createHash("sha256");
    for (let i = 0; i < 8; i++) hash.update(block);
    const expected = hash.digest("hex");
    const ssh = sshpassArgs(server.port, "foo", "").slice(0, -1).map((arg) => `'${arg}'`).join(" ");
    const feed = `for i in 1 2 3 4 5 6 7 8; do cat '${file}'; done`;
    const peak = server.sampleRss();
    const started = Date.now();
    const digest = await run("bash", ["-c", `set -o pipefail; ${feed} | sshpass ${ssh} sha256sum`], {
      timeoutMs: 300_000,
    });
    const roundTrip = await run(
      "bash",
      ["-c", `set -o pipefail; ${feed} | sshpass ${ssh} cat | sha256sum`],
      { timeoutMs: 300_000 },
    );
    const growth = peak.stop() - baseline;
    console.log(
      `nothing lost: 2 × 512 MiB in ${Date.now() - started} ms; server RSS peak +${mebibytes(growth)} MiB`,
    );
    assert.equal(digest.stdout.split(" ")[0], expected, digest.stderr);
    assert.equal(roundTrip.stdout.split(" ")[0], expected, roundTrip.stderr);
    assert.ok(growth <= 64 * MiB, `RSS grew by ${mebibytes(growth)} MiB`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("direct-tcpip to a listener that never accepts stalls nobody: another login + exec takes < 500 ms (paramiko)", async () => {
  await using server = await startCli(["--verbose"]);
  // The target's backlog is filled first, so that further connects hang (their SYNs are dropped).
  const attacker = `
import socket, sys, threading, time, paramiko
target = socket.socket(); target.bind(("127.0.0.1", 0)); target.listen(0)
port = target.getsockname()[1]
fillers = []
for i in range(4):
    s = socket.socket(); s.setblocking(False); s.connect_ex(("127.0.0.1", port)); fillers.append(s)
t = paramiko.Transport(("127.0.0.1", int(sys.argv[1]))); t.connect(username="tester", password="foo")
opened = []
def attack():
    for i in range(20):
        opened.append(t.open_channel("direct-tcpip", ("127.0.0.1", port), ("127.0.0.1", 1), timeout=30))
print("attacking", flush=True)
worker = threading.Thread(target=attack); worker.start(); worker.join()
print(len(opened), flush=True)
sys.stdin.read()`;
  const victim = `
import sys, time, paramiko
started = time.monotonic()
t = paramiko.Transport(("127.0.0.1", int(sys.argv[1]))); t.connect(username="tester", password="foo")
c = t.open_session(); c.exec_command("echo served")
out = c.makefile().read().decode()
print(out.strip(), round((time.monotonic() - started) * 1000))`;
  const client = spawn("/usr/bin/python3", ["-c", attacker, String(server.port)], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let output = "";
  client.stdout.on("data", (data) => output += data);
  const exited = new Promise((resolve) => client.on("close", resolve));
  while (!output.includes("attacking") && client.exitCode === null) await sleep(20);
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const result = await python(victim, [String(server.port)]);
    const [word, ms] = result.stdout.trim().split(" ");
    assert.equal(word, "served", result.stderr);
    times.push(Number(ms));
  }
  while (!/\n\d+\n/.test(output) && client.exitCode === null) await sleep(50);
  client.stdin.end();
  await exited;
  const pending = (server.stderr().match(/forward-open .*connecting=true/g) ?? []).length;
  console.log(
    `direct-tcpip stall: ${output.trim().split("\n").at(-1)} opens to a silent target ` +
      `(${pending} accepted while connecting); other clients' login + exec: ${times.join(", ")} ms`,
  );
  assert.equal(output.trim().split("\n").at(-1), "20");
  assert.ok(pending > 0, "the opens were accepted before their connects finished");
  for (const ms of times) assert.ok(ms < 500, `a login + exec took ${ms} ms`);
});

test("150 idle TCP connections against maxUnauthenticated 100: logins still succeed (paramiko)", async () => {
  // The library's defaults (sshd's MaxStartups 10:30:100), not the DemoServer's (1000).
  await using ds = await DemoServer.start({
    limits: { maxUnauthenticated: 100, maxUnauthenticatedStart: 10 },
  });
  const sockets = await Promise.all(Array.from({ length: 150 }, () =>
    new Promise<Socket>((resolve) => {
      const socket = connect({ host: "127.0.0.1", port: ds.port }, () => resolve(socket));
      socket.on("error", () => {});
      socket.resume(); // reads the banner, says nothing
    })));
  await sleep(1500); // silent for over a second: idle
  const script = `
import sys, paramiko
ok = 0
for i in range(20):
    try:
        t = paramiko.Transport(("127.0.0.1", int(sys.argv[1]))); t.connect(username="tester", password="foo")
        c = t.open_session(timeout=10); c.exec_command("echo in")
        if c.makefile().read() == b"in\\n": ok += 1
        t.close()
    except Exception as e:
        print(repr(e), file=sys.stderr)
print(ok)`;
  const result = await python(script, [String(ds.port)]);
  const dropped = sockets.filter((socket) => socket.destroyed || socket.readableEnded).length;
  for (const socket of sockets) socket.destroy();
  const succeeded = Number(result.stdout.trim());
  console.log(
    `idle connections: ${succeeded}/20 logins succeeded beside 150 silent connections ` +
      `(${dropped} of them dropped: refused at the limit or making room)`,
  );
  assert.ok(succeeded >= 11, `only ${succeeded} of 20 logins succeeded: ${result.stderr}`);
});

test("timeline: at most timelineLimit entries and clients, the oldest dropped and counted; ids go on", async () => {
  await using ds = await DemoServer.start({ timelineLimit: 20 });
  for (let i = 0; i < 6; i++) {
    const result = await sshWithPassword(ds.port, "foo", "echo hi");
    assert.equal(result.stdout, "hi\n", result.stderr);
  }
  await sleep(200);
  assert.equal(ds.timeline.length, 20);
  assert.ok(ds.timelineDropped > 20, `${ds.timelineDropped} dropped`);
  assert.equal(ds.clients.at(-1)!.id, 6);
  assert.equal(ds.timeline.at(-1)!.event, "disconnected");
  let printed = "";
  ds.printTimeline((text) => printed = text);
  assert.match(printed, new RegExp(`\\(${ds.timelineDropped} older entries dropped\\)`));
  await assert.rejects(DemoServer.start({ timelineLimit: 0 }), RangeError);
});
