import { test } from "node:test";
import assert from "node:assert/strict";
import { DemoServer } from "../src/demo/mod.ts";
import { python, sshWithPassword } from "./support/clients.ts";

test("ssh -tt runs the command on a real pty", async () => {
  await using ds = await DemoServer.start();
  const result = await sshWithPassword(ds.port, "foo", "tty; test -t 0 && echo stdin-is-a-terminal", {
    extra: ["-tt"],
  });
  assert.match(result.stdout, /^\/dev\/pts\/\d+\r\nstdin-is-a-terminal\r\n$/, result.stderr);
  assert.equal(result.code, 0);
  const pty = ds.timeline.find((entry) => entry.event === "pty");
  assert.ok(pty, "the pty request is in the timeline");
});

test("without a pty, exec has no terminal; a shell reads commands from stdin", async () => {
  await using ds = await DemoServer.start();
  const exec = await sshWithPassword(ds.port, "foo", "tty", { extra: ["-T"] });
  assert.equal(exec.stdout, "not a tty\n");
  const shell = await sshWithPassword(ds.port, "foo", "", {
    extra: ["-T"],
    input: "echo from-shell\nexit 4\n",
  });
  assert.equal(shell.stdout, "from-shell\n", shell.stderr);
  assert.equal(shell.code, 4);
});

test("interactive shell on a pty (paramiko): size, TERM, window change, exit status", async () => {
  await using ds = await DemoServer.start({ env: { PS1: "$ " } });
  const script = `
import sys, time, paramiko
c = paramiko.SSHClient(); c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
c.connect("127.0.0.1", int(sys.argv[1]), "tester", "foo", look_for_keys=False, allow_agent=False)
ch = c.get_transport().open_session()
ch.get_pty(term="vt100", width=80, height=24)
ch.invoke_shell()
out = b""
def until(marker):
    global out
    deadline = time.time() + 10
    while marker not in out and time.time() < deadline:
        if ch.recv_ready(): out += ch.recv(65536)
        else: time.sleep(0.02)
# The terminal echoes what is typed: each marker is computed, so only the output matches it.
ch.send("stty size; echo TERM=$TERM; echo first-$((1+1))\\n"); until(b"first-2\\r\\n")
ch.resize_pty(width=100, height=40); time.sleep(0.2)
ch.send("stty size; echo second-$((1+1))\\n"); until(b"second-2\\r\\n")
ch.send("exit 3\\n")
status = ch.recv_exit_status()
print(repr(out.decode())); print("status", status)`;
  const result = await python(script, [String(ds.port)]);
  assert.match(result.stdout, /24 80\\r\\n/, result.stderr);
  assert.match(result.stdout, /TERM=vt100\\r\\n/);
  assert.match(result.stdout, /40 100\\r\\n/);
  assert.match(result.stdout, /status 3\n$/);
  assert.ok(
    ds.timeline.some((e) => e.event === "window-change" && e.data.columns === 100 && e.data.rows === 40),
  );
});
