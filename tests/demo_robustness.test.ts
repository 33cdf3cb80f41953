import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { DemoServer } from "../src/demo/mod.ts";
import { ssh2, sshWithPassword } from "./support/clients.ts";

/** One misbehaving TCP client: what it sends before it hangs up (or resets). */
function misbehave(port: number, kind: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const done = (): void => {
      socket.destroy();
      resolve();
    };
    socket.resume(); // read (and drop) the server's banner, or "end" never comes
    socket.on("end", done);
    socket.on("error", done);
    socket.on("close", done);
    socket.on("connect", () => {
      switch (kind % 5) {
        case 0: // connect and hang up at once
          socket.end();
          break;
        case 1: // random bytes instead of a banner
          socket.end(randomBytes(4096));
          break;
        case 2: // a valid banner, then random packets
          socket.write("SSH-2.0-garbage_1.0\r\n");
          socket.end(randomBytes(8192));
          break;
        case 3: // a valid banner, then a reset in the middle of the key exchange
          socket.write("SSH-2.0-reset_1.0\r\n");
          socket.once("data", () => socket.resetAndDestroy());
          break;
        default: // a packet length that claims 2 GB
          socket.write("SSH-2.0-huge_1.0\r\n");
          socket.end(Uint8Array.of(0x7f, 0xff, 0xff, 0xff, 0x04, 0, 0, 0, 0));
      }
    });
  });
}

test("50 garbage or aborted connections hurt neither a running session nor the next login", async () => {
  await using ds = await DemoServer.start();
  const healthy = ssh2({
    port: ds.port,
    password: "foo",
    command: "echo started; sleep 1; head -c 300000 /dev/zero | sha256sum",
  });
  await Promise.all(Array.from({ length: 50 }, (_, i) => misbehave(ds.port, i)));
  const login = await sshWithPassword(ds.port, "foo", "echo still-serving");
  assert.equal(login.stdout, "still-serving\n", login.stderr);
  const result = await healthy;
  assert.equal(result.code, 0, result.error);
  assert.equal(
    result.stdout,
    "started\n886715e4051e827f4fe215df3053af3f85ad0d352db2c829c7487af6d78efe30  -\n",
  );
  assert.ok(ds.clients.length >= 52);
});

test("commands inherit no socket of the server (listening or clients')", async () => {
  await using ds = await DemoServer.start();
  const other = ssh2({ port: ds.port, password: "foo", command: "sleep 1" });
  const result = await sshWithPassword(ds.port, "foo", "ls -l /proc/$$/fd/");
  assert.equal(result.code, 0, result.stderr);
  const descriptors = [...result.stdout.matchAll(/ (\d+) -> (.*)$/gm)];
  assert.ok(descriptors.length >= 3, result.stdout);
  // Node's child stdio are socket pairs: look past descriptors 0-2.
  const sockets = descriptors.filter(([, fd, target]) => Number(fd) > 2 && target.startsWith("socket:"));
  assert.deepEqual(sockets.map(([line]) => line), []);
  await other;
});

test("close() ends every command with what it started: no orphans keep running", async () => {
  const ds = await DemoServer.start();
  const client = ssh2({ port: ds.port, password: "foo", command: "sleep 59.123 & echo $!; wait" });
  let pid = 0;
  for (let i = 0; i < 200 && pid === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    const started = ds.timeline.find((entry) => entry.event === "exec");
    if (!started) continue;
    const found = await sshWithPassword(ds.port, "foo", "pgrep -f '^sleep 59.123$' || true");
    pid = Number(found.stdout.trim().split("\n")[0]) || 0;
  }
  assert.ok(pid > 0, "the background sleep started");
  await ds.close();
  await client;
  let alive = true;
  for (let i = 0; i < 100 && alive; i++) {
    try {
      process.kill(pid, 0);
      await new Promise((resolve) => setTimeout(resolve, 20));
    } catch {
      alive = false;
    }
  }
  assert.equal(alive, false, `sleep ${pid} outlived the server`);
});
