/**
 * Running out of file descriptors: the DemoServer CLI under `prlimit
 * --nofile=256`, and a client (paramiko) that opens forwardings and channels
 * until the server refuses. The server must fail those operations, not die,
 * not spin, and serve again once that client left.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { openFds } from "./support/census.ts";
import { sshWithPassword } from "./support/clients.ts";
import { startCli } from "./support/cli_server.ts";
import { startEchoServer } from "./support/echo_server.ts";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test("out of descriptors: forwards and channels are refused, the server stays up and idle, and serves again", async () => {
  await using server = await startCli([], { prefix: ["prlimit", "--nofile=256"] });
  await using echo = await startEchoServer();
  const baselineFds = openFds(server.pid);
  // Reverse forwards until refused, then commands and direct-tcpip channels until they fail;
  // report, then hold everything open until stdin closes.
  const script = `
import sys, paramiko
t = paramiko.Transport(("127.0.0.1", int(sys.argv[1]))); t.connect(username="tester", password="foo")
forwards = 0
try:
    while forwards < 1000:
        t.request_port_forward("127.0.0.1", 0); forwards += 1
except paramiko.SSHException:
    pass
commands, failure = [], ""
while len(commands) < 1000 and not failure:
    try:
        c = t.open_session(timeout=10)
    except Exception as e:
        failure = "open refused"; break
    c.exec_command("sleep 60")
    if c.status_event.wait(0.2):
        failure = c.makefile_stderr().read().decode().strip(); break
    commands.append(c)
tunnels = []
try:
    while len(tunnels) < 1000:
        tunnels.append(t.open_channel("direct-tcpip", ("127.0.0.1", int(sys.argv[2])), ("127.0.0.1", 1), timeout=10))
except Exception as e:
    pass
print(forwards, len(commands), len(tunnels), failure, flush=True)
sys.stdin.read()
print("active" if t.is_active() else "gone", flush=True)`;
  const client = spawn("/usr/bin/python3", ["-c", script, String(server.port), String(echo.port)], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let output = "";
  let errors = "";
  client.stdout.on("data", (data) => output += data);
  client.stderr.on("data", (data) => errors += data);
  const exited = new Promise((resolve) => client.on("close", resolve));
  while (!output.includes("\n") && client.exitCode === null) await sleep(100);
  const [forwards, commands, tunnels, ...failure] = output.trim().split(" ");
  const held = openFds(server.pid);
  console.log(
    `out of descriptors: ${forwards} forwards (then refused), ${commands} commands (then: ${
      failure.join(" ")
    }), ${tunnels} direct-tcpip channels (then refused); server fds ${baselineFds} -> ${held} of 256`,
  );
  assert.equal(forwards, "16", errors);
  assert.ok(Number(commands) > 0 && Number(tunnels) >= 0, output + errors);
  assert.ok(held > 200, `the client did not get the server near its limit: ${held} fds`);

  // Exhausted: the server answers, refuses cleanly, and uses no CPU while nothing happens.
  const during = await sshWithPassword(server.port, "foo", "echo during");
  assert.ok(server.alive);
  assert.ok(during.code === 0 || /Too many open files|closed|reset/i.test(during.stderr), during.stderr);
  const cpuBefore = server.cpuMs();
  await sleep(5000);
  const cpu = server.cpuMs() - cpuBefore;
  console.log(`out of descriptors: login while exhausted: exit ${during.code}; server CPU ${cpu} ms in 5 s`);
  assert.ok(cpu <= 250, `the server used ${cpu} ms of CPU in 5 s while idle`);

  client.stdin.end();
  await exited;
  assert.match(output, /active\n$/, "the exhausting client kept its connection");
  const after = await sshWithPassword(server.port, "foo", "echo after");
  assert.equal(after.stdout, "after\n", after.stderr);
  assert.ok(server.alive);
});
