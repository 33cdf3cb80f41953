import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import { DemoServer } from "../src/demo/mod.ts";
import { run } from "./support/clients.ts";
import { rejectsWith, sleep } from "./support/client_fixtures.ts";
import { startSshd } from "./support/sshd.ts";

test("via: a DemoServer session as jump host to sshd; the target's host key is the one checked", async () => {
  await using sshd = await startSshd();
  await using jump = await DemoServer.start();
  await using hop = await connect({
    host: "127.0.0.1",
    port: jump.port,
    user: "tester",
    hostKey: { key: jump.hostKey },
    auth: { password: "foo" },
  });
  const target = {
    host: "127.0.0.1",
    port: sshd.port,
    user: sshd.user,
    auth: { privateKey: sshd.clientKeyFile },
    via: hop,
  };
  {
    await using ssh = await connect({ ...target, hostKey: { fingerprint: sshd.fingerprint } });
    assert.equal((await ssh.run("echo through the jump")).stdoutText, "through the jump\n");
    assert.match(ssh.serverBanner ?? "", /OpenSSH/);
    assert.equal(hop.channels.length, 1);
  }
  // The jump channel ends with the session that used it.
  for (let i = 0; i < 100 && hop.channels.length > 0; i++) await sleep(10);
  assert.equal(hop.channels.length, 0);
  // The jump host's key is not the target's.
  await rejectsWith(connect({ ...target, hostKey: { key: jump.hostKey } }), "host-key-rejected");
  assert.ok(jump.timeline.some((entry) => entry.event === "forward-open" && entry.data.port === sshd.port));
  // The jump session stays open and usable.
  assert.equal((await hop.run("echo hop")).stdoutText, "hop\n");
});

/** The processes under `pid`, deepest last. */
async function descendants(pid: number): Promise<number[]> {
  const children = (await run("pgrep", ["-P", String(pid)])).stdout.split("\n").filter(Boolean).map(Number);
  const all: number[] = [];
  for (const child of children) all.push(child, ...await descendants(child));
  return all;
}

test("keepalive: a stopped server is detected within interval × countMax + 1 s", async () => {
  await using sshd = await startSshd();
  await using ssh = await connect({
    host: "127.0.0.1",
    port: sshd.port,
    user: sshd.user,
    hostKey: { fingerprint: sshd.fingerprint },
    auth: { privateKey: sshd.clientKeyFile },
    keepalive: { interval: 500, countMax: 3 },
  });
  assert.equal((await ssh.run("echo alive")).stdoutText, "alive\n");
  await sleep(1200); // idle, answered keepalives keep it up
  assert.equal(ssh.isConnected, true);
  const stopped = await descendants(sshd.pid);
  assert.ok(stopped.length > 0);
  for (const pid of stopped) process.kill(pid, "SIGSTOP");
  try {
    const started = Date.now();
    const running = ssh.run("echo never");
    running.catch(() => {});
    await ssh.disconnected;
    const took = Date.now() - started;
    assert.ok(took <= 500 * 3 + 1000, `detected after ${took} ms`);
    await rejectsWith(running, "timeout");
    assert.equal(ssh.isConnected, false);
  } finally {
    for (const pid of stopped) process.kill(pid, "SIGCONT");
  }
});

test("keepalive: the server's own keepalives (ClientAliveInterval 1) are answered while the client idles 5 s", async () => {
  await using sshd = await startSshd({ config: ["ClientAliveInterval 1", "ClientAliveCountMax 2"] });
  await using ssh = await connect({
    host: "127.0.0.1",
    port: sshd.port,
    user: sshd.user,
    hostKey: { fingerprint: sshd.fingerprint },
    auth: { privateKey: sshd.clientKeyFile },
  });
  await sleep(5000);
  assert.equal(ssh.isConnected, true);
  assert.equal((await ssh.run("echo still here")).stdoutText, "still here\n");
});
